/*
 * BiListing.java -- what a JDBC BI tool sees of the insights.
 *
 *   java -cp /usr/share/java/postgresql.jar BiListing.java URL USER PASSWORD
 *
 * Lists schema luxe the way pgJDBC-based tools do (DatabaseMetaData.getTables
 * with the types TABLE and VIEW only, which leaves materialized views out),
 * then reads every listed relation.  Prints "listed NAME TYPE" and
 * "read NAME ROWS" lines; exits 1 on any SQL error.  Run over TCP, as the
 * tools connect, with the read-only role of the README's BI section.
 */
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

public class BiListing {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            DatabaseMetaData md = c.getMetaData();
            List<String> names = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "luxe", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    names.add(rs.getString("TABLE_NAME"));
                    System.out.println("listed " + rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE"));
                }
            }
            for (String n : names) {
                try (Statement s = c.createStatement();
                     ResultSet rs = s.executeQuery("SELECT count(*) FROM luxe.\"" + n + "\"")) {
                    rs.next();
                    System.out.println("read " + n + " " + rs.getLong(1));
                } catch (java.sql.SQLException e) {
                    System.out.println("denied " + n + " " + e.getSQLState());
                }
            }
        } catch (java.sql.SQLException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }
}
