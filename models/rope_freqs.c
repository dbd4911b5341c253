/* rope_scaling as per-pair frequency factors (the divisors the rope op takes, as llama.cpp's
 * rope_freqs tensor holds them). llama3 (Llama-3.1 and later): pairs whose wavelength is
 * shorter than original_context / high_freq_factor keep their frequency, those longer than
 * original_context / low_freq_factor are slowed by factor, and the band between is blended
 * smoothly; the formula is transformers' _compute_llama3_parameters. linear: every pair by
 * factor (position interpolation). */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "models/model.h"

int rope_freqs_compute(const ModelConfig *c, float *ff, char *err, size_t errlen) {
    if (!c->rope_scaling[0]) return 0;
    int half = c->rot_dim / 2;
    if (!strcmp(c->rope_scaling, "linear")) {
        for (int i = 0; i < half; i++) ff[i] = c->rope_factor;
        return 1;
    }
    if (strcmp(c->rope_scaling, "llama3"))
        return err_set(err, errlen, -EINVAL, "rope_scaling '%s' is not supported (supported: llama3, linear)",
                       c->rope_scaling);
    double low_wavelen = c->rope_orig_ctx / (double)c->rope_low_freq;
    double high_wavelen = c->rope_orig_ctx / (double)c->rope_high_freq;
    for (int i = 0; i < half; i++) {
        double freq = pow((double)c->rope_theta, -2.0 * i / c->rot_dim), wavelen = 2 * M_PI / freq;
        if (wavelen < high_wavelen) ff[i] = 1.0f;
        else if (wavelen > low_wavelen) ff[i] = c->rope_factor;
        else {
            double smooth = (c->rope_orig_ctx / wavelen - c->rope_low_freq) / (c->rope_high_freq - c->rope_low_freq);
            ff[i] = (float)(1.0 / ((1 - smooth) / c->rope_factor + smooth));
        }
    }
    return 1;
}
