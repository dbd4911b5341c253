/* Stream capture and graph tests of the SIMT emulator: captured work does not run at
 * capture time; replays read the current contents of the buffers (a host staging buffer
 * refilled between replays); cuBLAS calls are captured too; synchronous copies, cudaMalloc
 * and legacy-stream work during capture fail and invalidate it, as on a GPU; relaxed mode
 * allows cudaMalloc; a kernel failing inside a replay fails the graph launch. */
#include "simt_test.h"
#include "cublas_emu.h"

__global__ void axpy_kernel(const float *x, float *y, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += a * x[i];
}
__global__ void graph_deadlock_kernel(int *out) {
    if (threadIdx.x == 3) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

static void test_replay(void) {
    enum { N = 300 };
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    float *staging, *x, *y, h[N];
    CHECK_CUDA(cudaMallocHost(&staging, N * sizeof(float)));
    CHECK_CUDA(cudaMalloc(&x, N * sizeof(float)));
    CHECK_CUDA(cudaMalloc(&y, N * sizeof(float)));
    CHECK_CUDA(cudaMemset(y, 0, N * sizeof(float)));
    for (int i = 0; i < N; i++) staging[i] = 1.0f;

    cudaGraph_t graph;
    cudaGraphExec_t exec;
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    CHECK_CUDA(cudaStreamIsCapturing(s, &st));
    CHECK(st == cudaStreamCaptureStatusActive);
    CHECK_CUDA(cudaMemcpyAsync(x, staging, N * sizeof(float), cudaMemcpyHostToDevice, s));
    CHECK_CUDA(piston_launch(axpy_kernel, dim3((N + 127) / 128), dim3(128), 0, s, (const float *)x, y, 2.0f, N));
    CHECK_CUDA(cudaStreamEndCapture(s, &graph));
    CHECK_CUDA(cudaStreamIsCapturing(s, &st));
    CHECK(st == cudaStreamCaptureStatusNone);
    CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    CHECK_CUDA(cudaMemcpy(h, y, sizeof h, cudaMemcpyDeviceToHost));
    CHECK(h[0] == 0.0f && h[N - 1] == 0.0f, "captured work ran at capture time");

    CHECK_CUDA(cudaGraphLaunch(exec, s));
    for (int i = 0; i < N; i++) staging[i] = (float)i; /* the next replay must see this */
    CHECK_CUDA(cudaGraphLaunch(exec, s));
    CHECK_CUDA(cudaStreamSynchronize(s));
    CHECK_CUDA(cudaMemcpy(h, y, sizeof h, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int i = 0; i < N; i++) bad += h[i] != 2.0f + 2.0f * i;
    CHECK(bad == 0, "replays: %d wrong (y[5] = %g)", bad, h[5]);

    /* cuBLAS on the capturing stream is recorded as well. */
    cublasHandle_t blas;
    CHECK(cublasCreate(&blas) == CUBLAS_STATUS_SUCCESS);
    CHECK(cublasSetStream(blas, s) == CUBLAS_STATUS_SUCCESS);
    const float one = 1.0f, zero = 0.0f;
    cudaGraph_t g2;
    cudaGraphExec_t e2;
    CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    /* y[0:3] = x[0:3] * x[0] as a 3x1 by 1x1 GEMM */
    CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, 3, 1, 1, &one, x, 3, x, 1, &zero, y, 3) == CUBLAS_STATUS_SUCCESS);
    CHECK_CUDA(cudaStreamEndCapture(s, &g2));
    CHECK_CUDA(cudaGraphInstantiate(&e2, g2, 0));
    for (int i = 0; i < 3; i++) staging[i] = (float)(i + 2);
    CHECK_CUDA(cudaMemcpy(x, staging, 3 * sizeof(float), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaGraphLaunch(e2, s));
    CHECK_CUDA(cudaMemcpy(h, y, 3 * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(h[0] == 4.0f && h[1] == 6.0f && h[2] == 8.0f, "captured GEMM: %g %g %g", h[0], h[1], h[2]);
    cublasDestroy(blas);

    CHECK_CUDA(cudaGraphExecDestroy(e2));
    CHECK_CUDA(cudaGraphDestroy(g2));
    CHECK_CUDA(cudaGraphExecDestroy(exec));
    CHECK_CUDA(cudaGraphDestroy(graph));
    CHECK_CUDA(cudaFree(x));
    CHECK_CUDA(cudaFree(y));
    CHECK_CUDA(cudaFreeHost(staging));
    CHECK_CUDA(cudaStreamDestroy(s));
}

static void test_capture_errors(void) {
    cudaStream_t s, blocking;
    CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CHECK_CUDA(cudaStreamCreate(&blocking));
    int *d, h[64];
    CHECK_CUDA(cudaMalloc(&d, sizeof h));
    cudaGraph_t graph = (cudaGraph_t)1;
    StderrCapture cap;

    CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    cap.start();
    cudaError_t e = cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    void *tmp = nullptr;
    cudaError_t e_malloc = cudaMalloc(&tmp, 16);
    std::string msg = cap.stop();
    CHECK(e == cudaErrorStreamCaptureUnsupported && e_malloc == cudaErrorStreamCaptureUnsupported,
          "sync copy / cudaMalloc during capture: %s, %s", cudaGetErrorName(e), cudaGetErrorName(e_malloc));
    CHECK(contains(msg, "cudaMemcpy"), "%s", msg.c_str());
    CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated && graph == nullptr);
    cudaGetLastError();

    CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    void *p = nullptr;
    CHECK_CUDA(cudaMalloc(&p, 16));
    CHECK_CUDA(cudaStreamEndCapture(s, &graph));
    CHECK_CUDA(cudaGraphDestroy(graph));
    CHECK_CUDA(cudaFree(p));

    CHECK_CUDA(cudaStreamBeginCapture(blocking, cudaStreamCaptureModeGlobal));
    cap.start();
    e = piston_launch(axpy_kernel, dim3(1), dim3(32), 0, 0, (const float *)d, (float *)d, 1.0f, 0);
    cap.stop();
    CHECK(e == cudaErrorStreamCaptureImplicit, "legacy stream during capture: %s", cudaGetErrorName(e));
    CHECK(cudaStreamEndCapture(blocking, &graph) == cudaErrorStreamCaptureInvalidated);
    cudaGetLastError();
    CHECK(cudaStreamBeginCapture(0, cudaStreamCaptureModeGlobal) == cudaErrorStreamCaptureUnsupported);
    cudaGetLastError();

    cudaGraphExec_t exec;
    CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    CHECK_CUDA(piston_launch(graph_deadlock_kernel, dim3(1), dim3(64), 0, s, d));
    CHECK_CUDA(cudaStreamEndCapture(s, &graph));
    CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    cap.start();
    e = cudaGraphLaunch(exec, s);
    msg = cap.stop();
    CHECK(e == cudaErrorLaunchFailure && cudaGetLastError() == cudaErrorLaunchFailure,
          "failing kernel in a replay: %s", cudaGetErrorName(e));
    CHECK(contains(msg, "deadlock"), "%s", msg.c_str());
    CHECK_CUDA(cudaGraphExecDestroy(exec));
    CHECK_CUDA(cudaGraphDestroy(graph));
    CHECK_CUDA(cudaFree(d));
    CHECK_CUDA(cudaStreamDestroy(s));
    CHECK_CUDA(cudaStreamDestroy(blocking));
}

void test_graph(void) {
    test_replay();
    test_capture_errors();
}
