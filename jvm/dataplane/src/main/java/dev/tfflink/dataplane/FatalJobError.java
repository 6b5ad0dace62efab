package dev.tfflink.dataplane;

/**
 * Bad input data or configuration: restarting the cluster would fail the same way. The runtime
 * reads Flink's root exception as text, so the printed form ({@link #toString}, used by stack
 * traces) carries the marker Python's {@code tfflink.lifecycle.errors.FatalJobError} puts in
 * its message; {@code is_fatal} then fails the job at once instead of restarting it.
 * {@link #getMessage} stays the plain reason.
 */
public class FatalJobError extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
    /** The same text as {@code tfflink.lifecycle.errors.FATAL_MARK}. */
    public static final String FATAL_MARK = "[fatal] ";

    public FatalJobError(String message) {
        super(message);
    }

    public FatalJobError(String message, Throwable cause) {
        super(message, cause);
    }

    @Override
    public String getLocalizedMessage() {
        return FATAL_MARK + getMessage();
    }
}
