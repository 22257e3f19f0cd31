// Talks to pggate's admin console with the PostgreSQL JDBC driver (extended
// protocol, the driver's own SET statements at connect) and prints what it
// saw, a line per check, for tests/integration/test_admin.cpp to judge.
// Run as a single source file: java -cp postgresql.jar AdminConsole.java URL
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;

public class AdminConsole {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0]);
             Statement st = conn.createStatement()) {
            try (ResultSet rs = st.executeQuery("SHOW POOLS")) {
                ResultSetMetaData md = rs.getMetaData();
                StringBuilder columns = new StringBuilder();
                for (int i = 1; i <= md.getColumnCount(); i++) columns.append(i > 1 ? "," : "").append(md.getColumnName(i));
                System.out.println("columns: " + columns);
                while (rs.next())
                    System.out.println("pool: " + rs.getString("database") + " " + rs.getString("user") + " sv_active="
                                       + rs.getLong("sv_active") + " node=" + rs.getString("node"));
            }
            try (ResultSet rs = st.executeQuery("SHOW NODES")) {
                int n = 0;
                while (rs.next()) n++;
                System.out.println("nodes: " + n);
            }
        }
    }
}
