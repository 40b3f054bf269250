import java.time.*;
import java.time.format.*;
import java.util.*;

// JavaTable prints the table in java_table_test.go. It is not part of the build;
// regenerate with: javac JavaTable.java && java JavaTable (Java 17, Locale.US).
public class JavaTable {
  public static void main(String[] a) {
    ZonedDateTime[] times = {
      ZonedDateTime.of(2026,11,22,7,5,9,42_000_000, ZoneOffset.ofHours(1)),          // 0
      ZonedDateTime.of(2024,2,29,23,59,59,999_999_999, ZoneId.of("UTC")),           // 1
      ZonedDateTime.of(2026,3,5,0,30,0,0, ZoneOffset.ofHours(-3)),                   // 2
      ZonedDateTime.of(2026,9,1,12,0,0,123_456_789, ZoneId.of("Asia/Kolkata")),       // 3
      ZonedDateTime.of(12345,1,2,3,4,5,0, ZoneId.of("UTC")),                          // 4
      ZonedDateTime.of(0,6,15,13,14,15,0, ZoneId.of("UTC")),                          // 5
      ZonedDateTime.of(-5,12,31,18,0,0,0, ZoneId.of("UTC")),                          // 6
      ZonedDateTime.of(987,3,4,9,8,7,0, ZoneId.of("UTC")),                            // 7
      ZonedDateTime.of(2026,1,1,12,0,0,0, ZoneOffset.ofTotalSeconds(-(5*3600+30*60+15))), // 8
      ZonedDateTime.of(2026,7,1,15,0,0,0, ZoneId.of("Europe/Berlin")),                // 9
    };
    String[] patterns = {
      "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "yyyy-MM-dd'T'HH:mm:ss", "EEE, dd MMM yyyy HH:mm:ss Z", "yyyyMMdd", "hh:mm a", "''yy''",
      "dd.MM.yyyy", "d/M/yy", "EEEE, MMMM d, yyyy", "h 'o''clock' a", "HHmmss", "yyyyMMddHHmmssSSS",
      "S", "SS", "SSSS", "SSSSSS", "SSSSSSSSS", "D", "DD", "DDD", "X", "XX", "XXX", "XXXX", "XXXXX",
      "x", "xx", "xxx", "xxxx", "xxxxx", "Z", "ZZ", "ZZZ", "ZZZZZ",
      "y", "yy", "yyy", "yyyy", "yyyyy", "u", "uu", "uuu", "uuuu", "uuuuu",
      "M", "MM", "MMM", "MMMM", "d", "dd", "H", "HH", "h", "hh", "m", "mm", "s", "ss", "a", "E", "EE", "EEE", "EEEE",
      "yyyy-MM-dd HH:mm:ss.SSS", "yyyy-MM-dd'T'HH:mm:ssZ", "dd-MMM-yyyy", "MM/dd/yyyy hh:mm:ss a",
      "'Week day:' EEEE", "yyyy'年'MM'月'dd'日'", "''''", "'o''clock'", "HH:mm:ss,SSS", "yyyy-DDD",
    };
    for (String p : patterns) {
      DateTimeFormatter f = DateTimeFormatter.ofPattern(p, Locale.US);
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < times.length; i++) {
        String out;
        try { out = f.format(times[i]); } catch (Exception e) { out = "ERR " + e.getMessage(); }
        sb.append(String.format("\t\t{%s, %d, %s},%n", q(p), i, q(out)));
      }
      System.out.print(sb);
    }
    // zone names, only region zones
    DateTimeFormatter z = DateTimeFormatter.ofPattern("z", Locale.US);
    for (int i : new int[]{1, 3, 9}) System.out.printf("\t\t{%s, %d, %s},%n", q("z"), i, q(z.format(times[i])));
  }
  static String q(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) { if (c=='"'||c=='\\') b.append('\\'); b.append(c); }
    return b.append('"').toString();
  }
}
