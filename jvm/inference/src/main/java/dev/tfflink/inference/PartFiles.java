package dev.tfflink.inference;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Output files committed as a whole (docs/dataplane.md, "Committed output"): each writer
 * subtask writes a hidden {@code .part-<i>.<format>.inprogress} and, when its input ended,
 * renames it to a hidden {@code .pending} file and reports its index; one committer, once every
 * writer reported, removes {@code _SUCCESS}, renames the pending files to {@code part-<i>.<format>},
 * deletes every other {@code part-*} (a run with more subtasks left them) and hidden leftover,
 * and writes {@code _SUCCESS} listing the parts. A job that fails or is cancelled deletes its
 * in-progress files and commits nothing: the previous output stays whole, never half-replaced.
 */
final class PartFiles {
    static final String SUCCESS = "_SUCCESS";

    private PartFiles() {}

    static String finalName(int subtask, String format) {
        return "part-" + subtask + "." + format;
    }

    static Path inProgress(Path dir, int subtask, String format) {
        return dir.resolve("." + finalName(subtask, format) + ".inprogress");
    }

    static Path pending(Path dir, int subtask, String format) {
        return dir.resolve("." + finalName(subtask, format) + ".pending");
    }

    /** Writes one subtask's lines; emits its index once they are all in its pending file. */
    static final class Writer extends AbstractStreamOperator<Integer>
            implements OneInputStreamOperator<String, Integer>, BoundedOneInput {
        private static final long serialVersionUID = 1L;
        private final String dir;
        private final String format;
        private transient Path file;
        private transient BufferedWriter out;
        private transient int subtask;

        Writer(String dir, String format) {
            this.dir = dir;
            this.format = format;
        }

        @Override
        public void open() throws Exception {
            super.open();
            subtask = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
            Path d = Paths.get(dir);
            Files.createDirectories(d);
            file = inProgress(d, subtask, format);
            out = Files.newBufferedWriter(file, StandardCharsets.UTF_8); // a failed attempt's is overwritten
        }

        @Override
        public void processElement(StreamRecord<String> element) throws IOException {
            out.write(element.getValue());
            out.write('\n');
        }

        @Override
        public void endInput() throws IOException {
            out.close();
            out = null;
            Files.move(file, pending(file.getParent(), subtask, format), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            output.collect(new StreamRecord<>(subtask));
        }

        @Override
        public void close() throws Exception {
            try {
                if (out != null) { // failed or cancelled before the end of input: nothing to keep
                    out.close();
                    out = null;
                    Files.deleteIfExists(file);
                }
            } finally {
                super.close();
            }
        }
    }

    /** The one committer (parallelism 1): publishes the pending parts once all writers reported. */
    static final class Committer extends AbstractStreamOperator<Void>
            implements OneInputStreamOperator<Integer, Void>, BoundedOneInput {
        private static final long serialVersionUID = 1L;
        private final String dir;
        private final String format;
        private final int parts;
        private transient BitSet reported;

        Committer(String dir, String format, int parts) {
            this.dir = dir;
            this.format = format;
            this.parts = parts;
        }

        @Override
        public void open() throws Exception {
            super.open();
            reported = new BitSet(parts);
        }

        @Override
        public void processElement(StreamRecord<Integer> element) {
            reported.set(element.getValue());
        }

        @Override
        public void endInput() throws IOException {
            if (reported.cardinality() != parts) {
                throw new IOException("output " + dir + ": " + reported.cardinality() + " of " + parts
                        + " part files are complete; nothing committed");
            }
            commit(Paths.get(dir), format, parts);
        }
    }

    /** Replaces whatever {@code dir} held with the {@code parts} pending files. */
    static void commit(Path dir, String format, int parts) throws IOException {
        Files.deleteIfExists(dir.resolve(SUCCESS));
        List<String> names = new ArrayList<>();
        for (int i = 0; i < parts; i++) {
            String name = finalName(i, format);
            Files.move(pending(dir, i, format), dir.resolve(name), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            names.add(name);
        }
        try (DirectoryStream<Path> all = Files.newDirectoryStream(dir)) {
            for (Path p : all) {
                String n = p.getFileName().toString();
                boolean stale = n.startsWith("part-") && !names.contains(n);
                boolean leftover = n.startsWith(".part-") && (n.endsWith(".inprogress") || n.endsWith(".pending"));
                if (stale || leftover) {
                    Files.deleteIfExists(p);
                }
            }
        }
        Path tmp = dir.resolve("." + SUCCESS + ".tmp");
        Files.write(tmp, names, StandardCharsets.UTF_8);
        Files.move(tmp, dir.resolve(SUCCESS), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
