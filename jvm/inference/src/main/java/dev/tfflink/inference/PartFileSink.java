package dev.tfflink.inference;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/**
 * Writes lines to {@code <dir>/part-<subtask>.<format>}, like the Python {@code FileWriter}.
 * The file is written as {@code .inprogress} and renamed once the subtask's input ended, so a
 * reader never sees a half-written file under the final name. A subtask that fails or is
 * cancelled leaves its {@code .inprogress} file (the Python writer renames on any close).
 */
final class PartFileSink implements Sink<String> {
    private static final long serialVersionUID = 1L;

    private final String dir;
    private final String format;

    PartFileSink(String dir, String format) {
        this.dir = dir;
        this.format = format;
    }

    @Override
    public SinkWriter<String> createWriter(WriterInitContext context) throws IOException {
        int i = context.getTaskInfo().getIndexOfThisSubtask();
        return new Writer(Paths.get(dir).resolve("part-" + i + "." + format));
    }

    private static final class Writer implements SinkWriter<String> {
        private final Path target;
        private final Path inProgress;
        private BufferedWriter out;

        Writer(Path target) throws IOException {
            this.target = target;
            this.inProgress = target.resolveSibling(target.getFileName() + ".inprogress");
            Files.createDirectories(target.getParent());
            this.out = Files.newBufferedWriter(inProgress, StandardCharsets.UTF_8); // truncates a restarted attempt's
        }

        @Override
        public void write(String line, Context context) throws IOException {
            out.write(line);
            out.write('\n');
        }

        @Override
        public void flush(boolean endOfInput) throws IOException {
            if (out == null) return;
            if (endOfInput) {
                out.close();
                out = null;
                Files.move(inProgress, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } else {
                out.flush();
            }
        }

        @Override
        public void close() throws IOException {
            if (out != null) {
                out.close();
                out = null;
            }
        }
    }
}
