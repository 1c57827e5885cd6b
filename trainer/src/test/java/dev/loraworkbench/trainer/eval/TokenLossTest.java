package dev.loraworkbench.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.loraworkbench.trainer.model.Decoder;
import dev.loraworkbench.trainer.model.DecoderWeights;
import dev.loraworkbench.trainer.model.HfCheckpoint;
import dev.loraworkbench.trainer.tensor.Tensors;
import dev.loraworkbench.trainer.testing.TinyModelFixture;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The chunked loss (labelled positions only, a few at a time, each chunk back-propagated on its own) against the
 * whole-matrix cross-entropy it replaces: same summed loss, same argmax hits, same gradients for the hidden states
 * and for a trained head weight.
 */
class TokenLossTest {

    /** What the loss was before chunking: log-softmax over the whole [B, T, V] logits, masked sum. */
    private static NDArray wholeMatrixNll(Decoder decoder, NDArray hidden, long[] targets, Shape bt) {
        NDManager m = hidden.getManager();
        long[] index = new long[targets.length];
        float[] mask = new float[targets.length];
        for (int i = 0; i < targets.length; i++) {
            index[i] = Math.max(0, targets[i]);
            mask[i] = targets[i] >= 0 ? 1f : 0f;
        }
        NDArray picked = decoder.head(hidden).logSoftmax(2).gather(Tensors.of(m, index, bt).expandDims(2), 2).squeeze(2);
        return picked.mul(Tensors.of(m, mask, bt)).sum().neg();
    }

    @Test
    void chunksGiveTheLossAndGradientsOfTheWholeMatrix() {
        try (HfCheckpoint ckpt = HfCheckpoint.open(TinyModelFixture.dir()); NDManager manager = NDManager.newBaseManager("PyTorch")) {
            Decoder decoder = new Decoder(ckpt.config(), DecoderWeights.load(ckpt, manager));
            NDArray norm = decoder.weights().finalNorm();
            norm.setRequiresGradient(true); // as in full-parameter training: the head's own weights get gradients too
            int rows = 2, seq = 23, h = ckpt.config().hiddenSize();
            int vocab = ckpt.config().vocabSize();
            Random rnd = new Random(5);
            float[] x = new float[rows * seq * h];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            long[] targets = new long[rows * seq];
            int labelled = 0;
            for (int i = 0; i < targets.length; i++) {
                boolean prompt = i % seq < 9 || i == targets.length - 1; // a prompt and a padded tail carry no label
                targets[i] = prompt ? -100 : rnd.nextInt(vocab);
                if (!prompt) labelled++;
            }
            Shape bt = new Shape(rows, seq);
            double divisor = 17;

            float[] refHidden, refNorm;
            double refNll;
            long refCorrect;
            try (NDManager scope = manager.newSubManager(); GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray hidden = Tensors.of(scope, x, new Shape(rows, seq, h));
                hidden.setRequiresGradient(true);
                NDArray nll = wholeMatrixNll(decoder, hidden, targets, bt);
                c.backward(nll.div(Tensors.scalar(scope, divisor)));
                refNll = nll.getFloat();
                long[] argmax = decoder.head(hidden).argMax(2).toLongArray();
                long hits = 0;
                for (int i = 0; i < targets.length; i++) if (targets[i] >= 0 && argmax[i] == targets[i]) hits++;
                refCorrect = hits;
                refHidden = hidden.getGradient().toFloatArray();
                refNorm = norm.getGradient().toFloatArray();
                JniUtils.zeroGrad((PtNDArray) norm);
            }
            for (int chunk : new int[] {1, 5, 1000}) {
                try (NDManager scope = manager.newSubManager(); GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
                    NDArray hidden = Tensors.of(scope, x, new Shape(rows, seq, h));
                    hidden.setRequiresGradient(true);
                    TokenLoss.Result r = TokenLoss.backward(decoder, hidden, targets, c, divisor, chunk);
                    assertEquals(labelled, r.tokens());
                    assertEquals(refNll, r.nllSum(), 1e-5 * Math.abs(refNll), "chunk " + chunk);
                    assertEquals(refCorrect, r.correct());
                    assertClose(refHidden, hidden.getGradient().toFloatArray(), "hidden, chunk " + chunk);
                    assertClose(refNorm, norm.getGradient().toFloatArray(), "final norm, chunk " + chunk);
                    JniUtils.zeroGrad((PtNDArray) norm);
                }
            }
            try (NDManager scope = manager.newSubManager()) {
                TokenLoss.Result eval = TokenLoss.of(decoder, Tensors.of(scope, x, new Shape(rows, seq, h)), targets);
                assertEquals(refNll, eval.nllSum(), 1e-5 * Math.abs(refNll), "evaluation (no gradients)");
                assertEquals(refCorrect, eval.correct());
            }
        }
    }

    private static void assertClose(float[] want, float[] got, String what) {
        double maxAbs = 0, maxDiff = 0;
        int nonZeroRows = 0;
        for (int i = 0; i < want.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(want[i]));
            maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
            if (want[i] != 0) nonZeroRows++;
        }
        assertTrue(maxAbs > 1e-6 && nonZeroRows > 0, what + ": gradients are not trivially zero");
        assertTrue(maxDiff <= 1e-5 * maxAbs, what + ": max difference " + maxDiff + " of " + maxAbs);
    }
}
