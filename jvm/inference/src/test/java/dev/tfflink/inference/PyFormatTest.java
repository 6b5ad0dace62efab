package dev.tfflink.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Python's repr(float) and json.dumps strings; expected texts printed by CPython 3. */
class PyFormatTest {
    private static final String[][] REPR = {
        {"0x0.0000000000001p-1022", "5e-324"}, {"0x1.1c37937e08000p+53", "1e+16"},
        {"0x1.4f8b588e368f1p-17", "1e-05"}, {"0x1.a36e2eb1c432dp-14", "0.0001"},
        {"0x1.ec00000000000p+6", "123.0"}, {"0x1.1eb2d66005835p+997", "1.5e+300"},
        {"-0x0.0p+0", "-0.0"}, {"0x1.999999999999ap-4", "0.1"},
        {"0x1.5555555555555p-2", "0.3333333333333333"}, {"0x1.0000000000000p-44", "5.684341886080802e-14"},
        {"0x1.18b54f22aeb00p+50", "1234567890123456.0"}, {"0x1.5ee2a2eb5a5c4p+53", "1.2345678901234568e+16"},
        {"0x1.0000000000000p+53", "9007199254740992.0"}, {"0x1.99999a0000000p-4", "0.10000000149011612"},
        {"0x1.3333340000000p-1", "0.6000000238418579"}, {"0x1.ad7f2a0000000p-24", "1.0000000116860974e-07"},
        {"0x1.ff933c0000000p+127", "3.3999999521443642e+38"}, {"-0x1.4000000000000p+1", "-2.5"},
        {"0x1.0f0cf064dd592p+73", "1e+22"}, {"0x1.52d02c7e14af6p+76", "1e+23"},
        {"0x1.0624dd2f1a9fcp-9", "0.002"}, {"0x1.1666666666666p+2", "4.35"}, {"0x1.3333333333333p-2", "0.3"},
    };

    @Test
    void reprMatchesPython() {
        for (String[] c : REPR) {
            StringBuilder sb = new StringBuilder();
            PyFormat.repr(sb, Double.parseDouble(c[0]), true);
            assertEquals(c[1], sb.toString(), c[0]);
        }
    }

    @Test
    void float32ColumnsPrintTheirSourceText() {
        for (String text : new String[] {"0.1", "-2.517", "3.4e+38", "1e-07", "123.0", "0.3"}) {
            StringBuilder sb = new StringBuilder();
            PyFormat.reprFloat32(sb, Float.parseFloat(text), true);
            assertEquals(text, sb.toString());
        }
    }

    @Test
    void jsonStringsAndSpecialsMatchJsonDumps() {
        StringBuilder sb = new StringBuilder();
        PyFormat.jsonString(sb, "a\"\\é\n\u007f\uD83D\uDE00");
        sb.append(' ');
        PyFormat.repr(sb, Double.NaN, true);
        sb.append(' ');
        PyFormat.repr(sb, Double.NEGATIVE_INFINITY, true);
        sb.append(' ');
        PyFormat.repr(sb, Double.NaN, false);
        // python: json.dumps('a"\\é\n\x7f😀'), json.dumps(nan), json.dumps(-inf), str(nan)
        assertEquals("\"a\\\"\\\\\\u00e9\\n\\u007f\\ud83d\\ude00\" NaN -Infinity nan", sb.toString());
    }
}
