package s3parallelput;

import java.util.Collections;
import org.apache.beam.model.pipeline.v1.RunnerApi;
import org.apache.beam.runners.flink.FlinkJobInvoker;
import org.apache.beam.runners.flink.FlinkJobServerDriver;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.runners.flink.FlinkPipelineRunner;
import org.apache.beam.runners.jobsubmission.JobInvocation;
import org.apache.beam.runners.jobsubmission.PortablePipelineRunner;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.util.concurrent.ListeningExecutorService;

/**
 * Beam's Flink job server, with the same arguments, for a cluster whose lib/ holds Beam's
 * Flink runner and its dependencies: its jobs ship no jars. Beam's own job server ships its
 * whole classpath (~150 MB) with every job, to the JobManager and on to each TaskManager,
 * whatever the job's filesToStage says.
 */
public final class ClusterLibJobServer {
  private ClusterLibJobServer() {}

  public static void main(String[] args) throws Exception {
    FileSystems.setDefaultPipelineOptions(PipelineOptionsFactory.create());
    FlinkJobServerDriver.FlinkServerConfiguration config = FlinkJobServerDriver.parseArgs(args);
    String confDir = valueOf(args, "--flink-conf-dir");
    FlinkJobServerDriver.fromConfig(config, () -> new Invoker(config, confDir)).run();
  }

  /** The value of {@code name} in {@code args} ({@code name value} or {@code name=value}). */
  private static String valueOf(String[] args, String name) {
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals(name) && i + 1 < args.length) {
        return args[i + 1];
      }
      if (args[i].startsWith(name + "=")) {
        return args[i].substring(name.length() + 1);
      }
    }
    return null;
  }

  /** Beam's invoker, but a job's Flink program names no jars to ship. */
  private static final class Invoker extends FlinkJobInvoker {
    private final String confDir;

    Invoker(FlinkJobServerDriver.FlinkServerConfiguration config, String confDir) {
      super(config);
      this.confDir = confDir;
    }

    @Override
    protected JobInvocation createJobInvocation(
        String invocationId,
        String retrievalToken,
        ListeningExecutorService executorService,
        RunnerApi.Pipeline pipeline,
        FlinkPipelineOptions flinkOptions,
        PortablePipelineRunner pipelineRunner) {
      PortablePipelineRunner runner =
          pipelineRunner instanceof FlinkPipelineRunner
              ? new FlinkPipelineRunner(flinkOptions, confDir, Collections.emptyList())
              : pipelineRunner;
      return super.createJobInvocation(
          invocationId, retrievalToken, executorService, pipeline, flinkOptions, runner);
    }
  }
}
