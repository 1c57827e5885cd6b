package dev.loraworkbench.trainer.device;

import ai.djl.Device;
import ai.djl.engine.Engine;

/** The recipe's {@code device} (auto | cpu | cuda | cuda:N) resolved against the CUDA devices the PyTorch engine sees. */
public final class ComputeDevice {
    private ComputeDevice() {}

    public static Device resolve(String spec) {
        Engine engine = Engine.getEngine("PyTorch");
        int gpus = engine.getGpuCount();
        String s = spec == null ? "auto" : spec.trim().toLowerCase(java.util.Locale.ROOT).replace("gpu", "cuda");
        if (s.equals("auto")) return gpus > 0 ? Device.gpu(0) : Device.cpu();
        if (s.equals("cpu")) return Device.cpu();
        if (s.equals("cuda") || s.matches("cuda:\\d+")) {
            int id = s.equals("cuda") ? 0 : Integer.parseInt(s.substring(5));
            if (gpus == 0) {
                throw new DeviceException("device: " + spec + " but the PyTorch engine sees no CUDA device (libtorch " + engine.getVersion()
                        + ", " + flavor() + "). The stock natives are CPU-only: on a GPU box run trainer/scripts/setup-spark.sh "
                        + "(builds the engine against the local CUDA libtorch), check with ./workbench doctor, or set device: cpu");
            }
            if (id >= gpus) throw new DeviceException("device: " + spec + " but the engine sees " + gpus + " CUDA device(s): cuda:0..cuda:" + (gpus - 1));
            return Device.gpu(id);
        }
        throw new DeviceException("device: '" + spec + "' is not valid; expected auto, cpu, cuda or cuda:N");
    }

    /** cpu or cuda:N, as a recipe writes it. */
    public static String name(Device device) {
        return device.isGpu() ? "cuda:" + device.getDeviceId() : "cpu";
    }

    /** The libtorch flavor DJL loaded (cpu, cu124, cu130...), from PYTORCH_FLAVOR or the bundled CPU natives. */
    public static String flavor() {
        String env = System.getenv("PYTORCH_FLAVOR");
        return env != null && !env.isBlank() ? env : System.getProperty("PYTORCH_FLAVOR", "cpu");
    }
}
