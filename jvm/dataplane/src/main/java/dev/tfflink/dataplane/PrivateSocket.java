package dev.tfflink.dataplane;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Set;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Unix socket only this user can reach: in a 0700 directory (or an existing one this user
 * owns that no one else may write, so nobody can swap the socket), the socket file 0600, and a
 * peer of another uid is refused ({@code SO_PEERCRED}). Accepting polls, so an interrupt
 * (Flink's cancellation) ends the wait without closing the listener.
 */
public final class PrivateSocket implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PrivateSocket.class);

    private final Path path;
    private final UserPrincipal me;
    private final ServerSocketChannel server;
    private final Selector selector;
    private boolean closed;

    private PrivateSocket(Path path, UserPrincipal me, ServerSocketChannel server, Selector selector) {
        this.path = path;
        this.me = me;
        this.server = server;
        this.selector = selector;
    }

    /** Listens on {@code dir/name}, creating or checking {@code dir} first. */
    public static PrivateSocket listen(Path dir, String name) throws IOException {
        UserPrincipal me = currentUser();
        privateDir(dir, me);
        Path path = dir.resolve(name);
        Files.deleteIfExists(path); // a previous attempt's socket (the directory is ours alone)
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(path));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
            server.configureBlocking(false);
            Selector selector = Selector.open();
            server.register(selector, SelectionKey.OP_ACCEPT);
            return new PrivateSocket(path, me, server, selector);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw new IOException("cannot listen on " + path + ": " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    /**
     * The next connection from a process of this user (others are closed and logged); waits
     * until one comes, and throws InterruptedException when the thread is interrupted.
     */
    public SocketChannel accept(Path failedMarker) throws IOException, InterruptedException {
        return accept(failedMarker, null);
    }

    /** As {@link #accept(Path)}, but null once {@code stopMarker} exists (no node will come). */
    public SocketChannel accept(Path failedMarker, Path stopMarker) throws IOException, InterruptedException {
        while (true) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while waiting for the TF node on " + path);
            }
            if (stopMarker != null && Files.exists(stopMarker)) {
                return null;
            }
            if (failedMarker != null && Files.exists(failedMarker)) {
                String why = Files.readString(failedMarker).strip();
                throw new IOException("the TF node for " + path.getFileName() + " will not connect: " + why);
            }
            selector.select(200);
            selector.selectedKeys().clear();
            SocketChannel ch = server.accept();
            if (ch == null) {
                continue;
            }
            UnixDomainPrincipal peer = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
            if (!peer.user().equals(me)) {
                LOG.warn("refused a connection on {} from user {} (not {})", path, peer.user().getName(), me.getName());
                ch.close();
                continue;
            }
            ch.configureBlocking(true);
            return ch;
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return; // once: a later listener (a restarted attempt) may own the path by now
        }
        closed = true;
        try {
            selector.close();
            server.close();
        } finally {
            Files.deleteIfExists(path);
        }
    }

    /** This process's user: the owner of /proc/self on Linux, else of a new temporary file. */
    static UserPrincipal currentUser() throws IOException {
        Path self = Path.of("/proc/self");
        if (Files.exists(self)) {
            return Files.getOwner(self);
        }
        Path t = Files.createTempFile("tfflink-uid", "");
        try {
            return Files.getOwner(t);
        } finally {
            Files.delete(t);
        }
    }

    /** Creates {@code dir} 0700, or checks that an existing one is safe to put a socket in. */
    static void privateDir(Path dir, UserPrincipal me) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Set<PosixFilePermission> only = PosixFilePermissions.fromString("rwx------");
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(only));
            Files.setPosixFilePermissions(dir, only); // whatever the umask did
            return;
        } catch (FileAlreadyExistsException exists) {
            // checked below
        }
        PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        Set<PosixFilePermission> p = a.permissions();
        if (!a.isDirectory() || !a.owner().equals(me) || p.contains(PosixFilePermission.GROUP_WRITE)
                || p.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new IOException("socket directory " + dir + " must be a directory of user " + me.getName()
                    + " that no one else can write (it is " + (a.isDirectory() ? "a directory" : "not a directory")
                    + " of " + a.owner().getName() + ", mode " + PosixFilePermissions.toString(p) + ")");
        }
    }
}
