// DynamoDB Local on one address. Its command line has no bind option: the server it builds
// (software.amazon.dynamodb.services.local.server.DynamoDBProxyServer) makes a Jetty Server on a
// port only, which listens on every interface. This starts the same server from the same command
// line, after giving Jetty's connector the host from -Dlivestock.host (default 127.0.0.1).
// Run in Java's source-file mode: java -cp DynamoDBLocal.jar BoundDynamoDBLocal.java <options>.

import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class BoundDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("livestock.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local's server has no connector to bind");
        }
        for (Connector connector : connectors) {
            ((ServerConnector) connector).setHost(host);
        }
        proxy.start();
        System.out.println("DynamoDB Local bound to " + host);
    }
}
