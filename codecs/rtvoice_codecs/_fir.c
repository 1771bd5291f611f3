/* The FIR resampler's inner loop in C: one call per chunk instead of a dozen numpy calls.
 *
 * The design (taps, delay, which outputs exist after n inputs) is the numpy engine's, from
 * rtvoice_codecs.resample; this file only evaluates it. See resample.py for the theory.
 *
 * process(phases, up, down, state, pcm) -> bytes
 *   phases  the prototype filter split into `up` phases of T taps each, every phase reversed, as
 *           float64: phases[r * T + s] = taps[r + (T - 1 - s) * up] (0 past the filter's end).
 *   state   a bytearray the caller owns: int64 inputs so far, int64 outputs so far, then T - 1
 *           float64 input samples (the history, oldest first). All zeros is a fresh stream.
 *   pcm     PCM16 little-endian input, any whole number of samples (the caller checks).
 * Returns every output sample that the inputs so far determine (ceil(n * up / down) in all), as
 * PCM16 little-endian, rounded half to even and saturated.
 *
 * Output j sits at intermediate index j * down; its newest input is k = floor(j * down / up), its
 * phase r = j * down - k * up, and y[j] = sum over t of taps[r + t * up] * x[k - t]. Each output is one
 * sum in a fixed order over the same inputs, so any split of the input gives the same bytes.
 *
 * Built with the stable ABI (abi3): one binary serves every Python from 3.11 on. Little-endian hosts
 * only; resample.py uses the numpy engine elsewhere.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Where the compiler and the C library can pick a function's version when the module loads (GCC or
 * clang on x86-64 Linux with glibc, whose loader resolves ifuncs; musl's does not), the output loop is
 * also built for AVX2, which evaluates the four partial sums of dot() in one vector register: the same
 * operations in the same order, so the same bytes (FMA is not enabled, and the build passes
 * -ffp-contract=off besides), about a quarter less time per chunk. Other CPUs and platforms run the
 * baseline build (and -DFIR_NO_CLONES builds only that, for the tests). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && defined(__has_attribute) && !defined(FIR_NO_CLONES)
#if __has_attribute(target_clones)
#define FIR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef FIR_CLONES
#define FIR_CLONES
#endif
/* dot() and to_pcm16() are inlined into each version of the loop (a call would be built for the baseline). */
#if defined(__GNUC__)
#define FIR_INLINE __attribute__((always_inline)) inline
#else
#define FIR_INLINE inline
#endif

/* The dot product of one output, in four interleaved partial sums (a fixed order the compiler can put in
 * vector registers without reassociating anything). */
FIR_INLINE static double dot(const double *restrict a, const double *restrict b, Py_ssize_t n) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) {
        s0 += a[i] * b[i];
    }
    return (s0 + s1) + (s2 + s3);
}

/* Saturate, then round half to even as numpy's rint does: adding and taking away 1.5 * 2^52 leaves no
 * fraction bits, under the default rounding mode (nearbyint() is a libm call on baseline x86-64, several
 * times slower). Saturating first gives the same result: anything past the range ends at its limit. */
FIR_INLINE static int16_t to_pcm16(double v) {
    const double magic = 6755399441055744.0;
    v = v > 32767.0 ? 32767.0 : v;
    v = v < -32768.0 ? -32768.0 : v;
    volatile double rounded = v + magic; /* volatile: the sum must be rounded to double, never folded */
    return (int16_t)(rounded - magic);
}

/* Outputs j_out .. j_end - 1 as PCM16 little-endian into out; work holds the history, then the inputs. */
FIR_CLONES static void run_outputs(const double *table, Py_ssize_t taps, const double *work, int64_t n_in,
                                   int64_t j_out, int64_t j_end, int64_t up, int64_t down, unsigned char *out) {
    for (int64_t j = j_out; j < j_end; j++) {
        const int64_t k = j * down / up;
        const int64_t r = j * down - k * up;
        /* The window of phase r is inputs k - keep .. k: work[k - n_in] onwards (k >= n_in here). */
        const double *window = work + (k - n_in);
        const int16_t y = to_pcm16(dot(table + r * taps, window, taps));
        *out++ = (unsigned char)((uint16_t)y & 0xFF);
        *out++ = (unsigned char)((uint16_t)y >> 8);
    }
}

static PyObject *fir_process(PyObject *module, PyObject *args) {
    Py_buffer phases, state, pcm;
    long long up, down;
    PyObject *result = NULL;
    double *work = NULL;
    (void)module;

    if (!PyArg_ParseTuple(args, "y*LLw*y*", &phases, &up, &down, &state, &pcm)) {
        return NULL;
    }
    if (up < 1 || down < 1 || phases.len % (Py_ssize_t)(up * sizeof(double)) != 0 || pcm.len % 2 != 0) {
        PyErr_SetString(PyExc_ValueError, "bad filter shape or odd PCM16 length");
        goto done;
    }
    const Py_ssize_t taps = phases.len / (Py_ssize_t)sizeof(double) / (Py_ssize_t)up; /* T, per phase */
    const Py_ssize_t keep = taps - 1;
    if (taps < 1 || state.len != (Py_ssize_t)(2 * sizeof(int64_t) + keep * sizeof(double))) {
        PyErr_SetString(PyExc_ValueError, "state does not match the filter");
        goto done;
    }
    int64_t counts[2];
    memcpy(counts, state.buf, sizeof counts);
    const int64_t n_in = counts[0], j_out = counts[1];
    const Py_ssize_t n = pcm.len / 2;
    const int64_t n_total = n_in + n;
    const int64_t j_end = (n_total * up + down - 1) / down;
    if (n_in < 0 || j_out != (n_in * up + down - 1) / down) {
        PyErr_SetString(PyExc_ValueError, "corrupt resampler state");
        goto done;
    }
    /* work = history | input: work[b] is input number n_in - keep + b. */
    work = malloc((size_t)(keep + n) * sizeof(double));
    if (work == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(work, (const char *)state.buf + sizeof counts, (size_t)keep * sizeof(double));
    const unsigned char *in = pcm.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        work[keep + i] = (double)(int16_t)(uint16_t)(in[2 * i] | (in[2 * i + 1] << 8));
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(j_end - j_out) * 2);
    if (result == NULL) {
        goto done;
    }
    run_outputs(phases.buf, taps, work, n_in, j_out, j_end, up, down,
                (unsigned char *)PyBytes_AsString(result));
    memcpy((char *)state.buf + sizeof counts, work + n, (size_t)keep * sizeof(double));
    counts[0] = n_total;
    counts[1] = j_end;
    memcpy(state.buf, counts, sizeof counts);

done:
    free(work);
    PyBuffer_Release(&phases);
    PyBuffer_Release(&state);
    PyBuffer_Release(&pcm);
    return result;
}

static PyMethodDef fir_methods[] = {
    {"process", fir_process, METH_VARARGS,
     "process(phases, up, down, state, pcm) -> bytes: run the FIR resampler on one chunk."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fir_module = {
    PyModuleDef_HEAD_INIT, "rtvoice_codecs._fir", "The FIR resampler's inner loop in C.", 0, fir_methods,
};

PyMODINIT_FUNC PyInit__fir(void) { return PyModule_Create(&fir_module); }
