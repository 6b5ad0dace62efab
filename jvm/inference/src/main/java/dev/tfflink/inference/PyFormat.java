package dev.tfflink.inference;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.List;

/**
 * Python's text for values: {@code repr(float)}, {@code json.dumps} strings, list reprs.
 *
 * <p>Result files must be byte-identical to those of the Python sink, and Java 17's
 * {@code Double.toString} is neither Python's layout (1e-05, 1e+16, 123.0) nor always the
 * shortest round-trip digits (e.g. 4.9E-324 for Python's 5e-324), so the digits are found
 * here with exact {@link BigDecimal} arithmetic.
 */
final class PyFormat {
    private PyFormat() {}

    /** Python {@code repr(d)}; {@code json} picks json.dumps' NaN/Infinity over nan/inf. */
    static void repr(StringBuilder sb, double d, boolean json) {
        if (Double.isNaN(d)) { sb.append(json ? "NaN" : "nan"); return; }
        if (Double.isInfinite(d)) { sb.append(d > 0 ? (json ? "Infinity" : "inf") : (json ? "-Infinity" : "-inf")); return; }
        if (d == 0) { sb.append(1 / d < 0 ? "-0.0" : "0.0"); return; }
        double a = Math.abs(d);
        BigDecimal exact = new BigDecimal(a);
        BigDecimal start = new BigDecimal(Double.toString(a));
        layout(sb, shortest(exact, start, bd -> bd.doubleValue() == a), d < 0);
    }

    /**
     * The text Python prints for a float32 column value: Python holds the float64 parsed from
     * the source text, which for up to 7 significant digits has the float32's shortest digits.
     */
    static void reprFloat32(StringBuilder sb, float f, boolean json) {
        if (Float.isNaN(f) || Float.isInfinite(f) || f == 0) { repr(sb, f, json); return; }
        float a = Math.abs(f);
        BigDecimal exact = new BigDecimal(a);
        BigDecimal start = new BigDecimal(Float.toString(a));
        layout(sb, shortest(exact, start, bd -> bd.floatValue() == a), f < 0);
    }

    private interface RoundTrip { boolean test(BigDecimal bd); }

    /**
     * The shortest decimal that reads back as the value, the nearest among equally short ones
     * (David Gay's mode 0, as CPython). {@code start} is a known round-tripping decimal (Java's
     * digits) that bounds the length: if p digits round-trip, so do p + 1, so we walk down.
     */
    private static BigDecimal shortest(BigDecimal exact, BigDecimal start, RoundTrip ok) {
        int p = start.stripTrailingZeros().precision();
        BigDecimal best = nearest(exact, p, ok);
        if (best == null) best = start; // cannot happen: start itself round-trips
        while (p > 1) {
            BigDecimal shorter = nearest(exact, p - 1, ok);
            if (shorter == null) break;
            best = shorter;
            p--;
        }
        return best.stripTrailingZeros();
    }

    /** The nearest p-digit decimal that round-trips, or null if none does. */
    private static BigDecimal nearest(BigDecimal exact, int p, RoundTrip ok) {
        BigDecimal n = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
        if (ok.test(n)) return n;
        // the other neighbour: may round-trip where the interval is lopsided (powers of two)
        BigDecimal other = n.compareTo(exact) >= 0
                ? exact.round(new MathContext(p, RoundingMode.FLOOR))
                : exact.round(new MathContext(p, RoundingMode.CEILING));
        return ok.test(other) ? other : null;
    }

    /** CPython's float_repr_style 'short' layout of a positive decimal. */
    private static void layout(StringBuilder sb, BigDecimal v, boolean negative) {
        String digits = v.unscaledValue().toString();
        int len = digits.length();
        int decpt = len - v.scale(); // value = 0.digits * 10^decpt
        if (negative) sb.append('-');
        if (decpt <= -4 || decpt > 16) {
            sb.append(digits.charAt(0));
            if (len > 1) sb.append('.').append(digits, 1, len);
            int e = decpt - 1;
            sb.append('e').append(e < 0 ? '-' : '+');
            if (Math.abs(e) < 10) sb.append('0');
            sb.append(Math.abs(e));
        } else if (decpt <= 0) {
            sb.append("0.");
            for (int i = 0; i < -decpt; i++) sb.append('0');
            sb.append(digits);
        } else if (decpt < len) {
            sb.append(digits, 0, decpt).append('.').append(digits, decpt, len);
        } else {
            sb.append(digits);
            for (int i = len; i < decpt; i++) sb.append('0');
            sb.append(".0");
        }
    }

    /** A JSON string as {@code json.dumps} writes it (ensure_ascii: everything outside ' '..'~' escaped). */
    static void jsonString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                case '\b': sb.append("\\b"); break;
                case '\f': sb.append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7e) {
                        String h = Integer.toHexString(c);
                        sb.append("\\u");
                        for (int k = h.length(); k < 4; k++) sb.append('0');
                        sb.append(h);
                    } else {
                        sb.append(c);
                    }
            }
        }
        sb.append('"');
    }

    /** Python's repr of a list of strings, as in its error messages: ['a', 'b']. */
    static String pyList(List<String> names) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) sb.append(", ");
            sb.append('\'').append(names.get(i).replace("\\", "\\\\").replace("'", "\\'")).append('\'');
        }
        return sb.append(']').toString();
    }
}
