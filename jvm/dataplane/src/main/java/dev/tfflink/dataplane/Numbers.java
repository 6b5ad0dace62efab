package dev.tfflink.dataplane;

/**
 * Number parsing straight from a char range, without a String or regex per value: CSV rows
 * of hundreds of floats are the data plane's hot loop. Plain decimals take an exact fast path
 * (Clinger's: at most 2^53 as the digits, a power of ten of at most 22); anything else falls
 * back to the JDK's correctly rounded parser, after refusing what Python's float() refuses.
 * Integers are exact (never through a double) and as strict as {@link Long#parseLong}.
 */
public final class Numbers {
    /** Thrown (preallocated, no stack trace) when a value is not a number of the wanted kind. */
    static final class Bad extends Exception {
        private static final long serialVersionUID = 1L;

        Bad() {
            super("not a number", null, false, false);
        }
    }

    static final Bad BAD = new Bad();

    private static final double[] POW10 = new double[23];

    static {
        double p = 1;
        for (int i = 0; i < POW10.length; i++) {
            POW10[i] = p;
            p *= 10;
        }
    }

    private static final long MAX_EXACT = 1L << 53;

    private Numbers() {}

    private static boolean space(char c) {
        return c == ' ' || c == '\t' || c == '\u000b' || c == '\f' || c == '\r' || c == '\n' || Character.isWhitespace(c);
    }

    /** {@code a[s, e)} as a long, surrounding whitespace ignored (Long.parseLong of the stripped text). */
    public static long parseLong(char[] a, int s, int e) throws Bad {
        while (s < e && space(a[s])) {
            s++;
        }
        while (e > s && space(a[e - 1])) {
            e--;
        }
        if (s == e) {
            throw BAD;
        }
        boolean neg = false;
        char c = a[s];
        if (c == '-' || c == '+') {
            neg = c == '-';
            if (++s == e) {
                throw BAD;
            }
        }
        // Accumulate negatively so that Long.MIN_VALUE fits.
        long limit = neg ? Long.MIN_VALUE : -Long.MAX_VALUE;
        long multMin = limit / 10;
        long r = 0;
        for (int i = s; i < e; i++) {
            int d = a[i] - '0';
            if (d < 0 || d > 9 || r < multMin) {
                throw BAD;
            }
            r *= 10;
            if (r < limit + d) {
                throw BAD;
            }
            r -= d;
        }
        return neg ? r : -r;
    }

    /** {@code a[s, e)} as an int (range checked). */
    public static int parseInt(char[] a, int s, int e) throws Bad {
        long v = parseLong(a, s, e);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw BAD;
        }
        return (int) v;
    }

    /** {@code a[s, e)} as a double, correctly rounded. */
    public static double parseDouble(char[] a, int s, int e) throws Bad {
        double d = fastDouble(a, s, e);
        if (!Double.isNaN(d)) {
            return d;
        }
        return slow(a, s, e);
    }

    /** {@code a[s, e)} as a float, correctly rounded (not a double rounded twice). */
    public static float parseFloat(char[] a, int s, int e) throws Bad {
        double d = fastDouble(a, s, e);
        if (!Double.isNaN(d)) {
            double m = Math.abs(d);
            if (m == 0) {
                return (float) d;
            }
            // d is the correctly rounded double of the decimal; (float) d rounds it again, which is
            // right unless d sits exactly on a midpoint between two floats (the decimal may not).
            if (m >= Float.MIN_NORMAL && m <= Float.MAX_VALUE
                    && (Double.doubleToRawLongBits(d) & ((1L << 29) - 1)) != (1L << 28)) {
                return (float) d;
            }
        }
        return (float) slowFloat(a, s, e);
    }

    /**
     * The common CSV number, {@code [-+]digits[.digits]} with no spaces or exponent, in one tight
     * loop (about twice as fast as {@link #general}); NaN when it does not apply.
     */
    private static double fastDouble(char[] a, int s, int e) {
        int i = s;
        if (i >= e) {
            return Double.NaN;
        }
        boolean neg = a[i] == '-';
        if (neg || a[i] == '+') {
            i++;
        }
        int first = i;
        long m = 0;
        int d;
        while (i < e && (d = a[i] - '0') >= 0 && d <= 9) {
            m = m * 10 + d;
            i++;
        }
        int digits = i - first;
        int scale = 0;
        if (i < e && a[i] == '.') {
            int f0 = ++i;
            while (i < e && (d = a[i] - '0') >= 0 && d <= 9) {
                m = m * 10 + d;
                i++;
            }
            scale = i - f0;
            digits += scale;
        }
        if (i != e || digits == 0 || digits > 18 || m > MAX_EXACT || scale > 22) {
            return general(a, s, e); // spaces, an exponent, many digits: the general fast path
        }
        double v = scale == 0 ? m : m / POW10[scale];
        return neg ? -v : v;
    }

    /** The exact fast path; NaN when it does not apply (NaN itself goes the slow way). */
    private static double general(char[] a, int s, int e) {
        while (s < e && a[s] <= ' ') {
            s++;
        }
        while (e > s && a[e - 1] <= ' ') {
            e--;
        }
        if (s == e) {
            return Double.NaN;
        }
        int i = s;
        boolean neg = false;
        if (a[i] == '-' || a[i] == '+') {
            neg = a[i] == '-';
            i++;
        }
        long m = 0;
        int digits = 0; // significant digits taken into m
        int exp10 = 0;
        boolean any = false;
        for (; i < e; i++) {
            int d = a[i] - '0';
            if (d < 0 || d > 9) {
                break;
            }
            any = true;
            if (m == 0 && d == 0) {
                continue;
            }
            if (++digits > 18) {
                return Double.NaN;
            }
            m = m * 10 + d;
        }
        if (i < e && a[i] == '.') {
            i++;
            for (; i < e; i++) {
                int d = a[i] - '0';
                if (d < 0 || d > 9) {
                    break;
                }
                any = true;
                exp10--;
                if (m == 0 && d == 0) {
                    continue;
                }
                if (++digits > 18) {
                    return Double.NaN;
                }
                m = m * 10 + d;
            }
        }
        if (!any) {
            return Double.NaN;
        }
        if (i < e && (a[i] == 'e' || a[i] == 'E')) {
            i++;
            boolean eneg = false;
            if (i < e && (a[i] == '-' || a[i] == '+')) {
                eneg = a[i] == '-';
                i++;
            }
            if (i == e) {
                return Double.NaN;
            }
            int x = 0;
            for (; i < e; i++) {
                int d = a[i] - '0';
                if (d < 0 || d > 9 || x > 10000) {
                    return Double.NaN;
                }
                x = x * 10 + d;
            }
            exp10 += eneg ? -x : x;
        }
        if (i != e || m > MAX_EXACT) {
            return Double.NaN;
        }
        double v;
        if (m == 0) {
            v = 0.0;
        } else if (exp10 == 0) {
            v = m;
        } else if (exp10 > 0 && exp10 <= 22) {
            v = m * POW10[exp10];
        } else if (exp10 < 0 && exp10 >= -22) {
            v = m / POW10[-exp10];
        } else {
            return Double.NaN;
        }
        return neg ? -v : v;
    }

    private static double slow(char[] a, int s, int e) throws Bad {
        String t = new String(a, s, e - s).strip();
        String body = t.startsWith("-") || t.startsWith("+") ? t.substring(1) : t;
        boolean neg = t.startsWith("-");
        String low = body.toLowerCase(java.util.Locale.ROOT);
        if (low.equals("inf") || low.equals("infinity")) {
            return neg ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (low.equals("nan")) {
            return Double.NaN;
        }
        // Only what Python's float() takes too: no hex, no f/d suffixes (underscores are refused).
        if (body.isEmpty()) {
            throw BAD;
        }
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) {
                throw BAD;
            }
        }
        try {
            return Double.parseDouble(t);
        } catch (NumberFormatException x) {
            throw BAD;
        }
    }

    private static float slowFloat(char[] a, int s, int e) throws Bad {
        double d = slow(a, s, e); // validates the syntax and handles inf/nan
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            return (float) d;
        }
        return Float.parseFloat(new String(a, s, e - s).strip());
    }
}
