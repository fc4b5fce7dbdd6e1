// pgjdbc (Debian libpostgresql-jdbc-java): DatabaseMetaData, ResultSetMetaData,
// and one prepared statement executed 10 times (server-prepared, binary).
// Run: java -cp /usr/share/java/postgresql.jar JdbcClient.java ../cases.json   (Java 11+ source launcher)
import java.nio.file.*;
import java.sql.*;
import java.util.*;
import java.util.regex.*;

public class JdbcClient {
    static int failures = 0;

    // Numbers compare by value: "50.0" and "50" agree.
    static String norm(Object v) {
        return String.valueOf(v).replaceAll("\"(-?\\d+)\\.0+\"", "\"$1\"");
    }

    static void check(String name, Object got, Object expect) {
        if (got.equals(expect) || norm(got).equals(norm(expect))) System.out.println("ok   jdbc " + name);
        else { failures++; System.out.println("FAIL jdbc " + name + ": got " + got + ", expected " + expect); }
    }

    static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                out.append(n == 'n' ? '\n' : n == 't' ? '\t' : n);
            } else out.append(ch);
        }
        return out.toString();
    }

    // Minimal extraction of the cases from cases.json, one case per line (no JSON library on the classpath).
    static List<String[]> cases(String json) {
        List<String[]> out = new ArrayList<>();
        Matcher m = Pattern.compile("\"name\": \"([^\"]+)\",\\s*\"sql\": \"((?:[^\"\\\\]|\\\\.)*)\",(?:\\s*\"params\": \\[\"([^\"]*)\"\\],)?\\s*\"expect\": (\\[\\[.*?\\]\\])").matcher(json);
        while (m.find()) out.add(new String[]{m.group(1), unescape(m.group(2)), m.group(3), m.group(4)});
        return out;
    }

    static String render(ResultSet rs) throws SQLException {
        StringBuilder sb = new StringBuilder("[");
        int n = rs.getMetaData().getColumnCount();
        boolean first = true;
        while (rs.next()) {
            if (!first) sb.append(", ");
            first = false;
            sb.append("[");
            for (int i = 1; i <= n; i++) {
                if (i > 1) sb.append(", ");
                sb.append("\"").append(rs.getString(i)).append("\"");
            }
            sb.append("]");
        }
        return sb.append("]").toString();
    }

    public static void main(String[] args) throws Exception {
        String json = new String(Files.readAllBytes(Paths.get(args[0])));
        String url = "jdbc:postgresql://" + System.getenv().getOrDefault("TRAIL_PG_HOST", "127.0.0.1") + ":" + System.getenv("TRAIL_PG_PORT") + "/trail?prepareThreshold=3";
        Properties p = new Properties();
        p.setProperty("user", System.getenv().getOrDefault("TRAIL_PG_USER", "trail"));
        p.setProperty("password", System.getenv().getOrDefault("PGPASSWORD", ""));
        try (Connection conn = DriverManager.getConnection(url, p)) {
            DatabaseMetaData md = conn.getMetaData();
            List<String> schemas = new ArrayList<>();
            try (ResultSet rs = md.getSchemas()) { while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM")); }
            check("getSchemas", schemas.contains("public") && schemas.contains("heap_export"), true);
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[]{"TABLE"})) { while (rs.next()) tables.add(rs.getString("TABLE_NAME")); }
            Collections.sort(tables);
            check("getTables", tables.toString(), "[all_events, events, pageviews, sessions, user_migrations, users]");
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "events", "%")) { while (rs.next()) cols.add(rs.getString("COLUMN_NAME")); }
            check("getColumns", cols.size(), 16);
            for (String[] c : cases(json)) {
                String sql = c[1].replace("$1", "?");
                try (PreparedStatement st = conn.prepareStatement(sql)) {
                    if (c[2] != null) st.setString(1, c[2]);
                    try (ResultSet rs = st.executeQuery()) { check(c[0], render(rs), c[3]); }
                } catch (SQLException e) { failures++; System.out.println("FAIL jdbc " + c[0] + ": " + e.getMessage()); }
            }
            try (PreparedStatement st = conn.prepareStatement("SELECT count(*) AS n, max(time) AS last FROM events WHERE user_id = ?")) {
                for (int i = 0; i < 10; i++) {
                    st.setString(1, "u1");
                    try (ResultSet rs = st.executeQuery()) {
                        rs.next();
                        if (i == 9) {
                            check("prepared x10", rs.getLong(1), 10L);
                            ResultSetMetaData rmd = rs.getMetaData();
                            check("ResultSetMetaData", rmd.getColumnTypeName(2), "timestamptz");
                            String today = System.getenv().getOrDefault("TRAIL_FIXTURE_TODAY", java.time.LocalDate.now(java.time.ZoneOffset.UTC).toString());
                            check("timestamp value", rs.getTimestamp(2).toInstant().toString(), java.time.LocalDate.parse(today).minusDays(2) + "T10:30:00Z");
                        }
                    }
                }
            }
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
