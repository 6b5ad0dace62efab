package dev.tfflink.dataplane;

/**
 * Bad input data or configuration: restarting the cluster would fail the same way. The runtime
 * reads Flink's root exception as text; {@code tfflink.lifecycle.errors.is_fatal} recognises
 * this class (and its subclasses) by name and fails the job at once instead of restarting it.
 */
public class FatalJobError extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public FatalJobError(String message) {
        super(message);
    }

    public FatalJobError(String message, Throwable cause) {
        super(message, cause);
    }
}
