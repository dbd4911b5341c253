/* The SIMT emulator's test binary: runs every test file's group, the port check
 * (port_check.cu built as C++), the device queries, and, in a child process started
 * with SIMT_NO_DEVICE=1, the no-device behaviour; prints "N passed, N failed". */
#include "simt_test.h"
#include "port_check.h"
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

void StderrCapture::start() {
    fflush(stderr);
    tmp = tmpfile();
    saved = dup(2);
    dup2(fileno(tmp), 2);
}

std::string StderrCapture::stop() {
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string s;
    rewind(tmp);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, tmp)) > 0) s.append(buf, got);
    fclose(tmp);
    if (!s.empty()) fprintf(stderr, "  expected diagnostic: %s", s.c_str());
    return s;
}

static void test_device(void) {
    int count = -1, dev = -1, v = 0;
    CHECK_CUDA(cudaGetDeviceCount(&count));
    CHECK(count == 1, "count %d", count);
    CHECK_CUDA(cudaSetDevice(0));
    CHECK_CUDA(cudaGetDevice(&dev));
    CHECK(dev == 0);
    CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
    CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
    cudaDeviceProp p;
    CHECK_CUDA(cudaGetDeviceProperties(&p, 0));
    CHECK(!strcmp(p.name, "Piston SIMT emulator"), "%s", p.name);
    CHECK(p.major == 9 && p.minor == 0 && p.warpSize == 32 && p.maxThreadsPerBlock == 1024);
    CHECK(p.sharedMemPerBlock == 48 * 1024 && p.sharedMemPerBlockOptin == 227 * 1024 && p.multiProcessorCount == 4);
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
    CHECK(v == 227 * 1024);
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, 0));
    CHECK(v == 9);
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMemoryClockRate, 0));
    CHECK(v > 0);
    CHECK(!strcmp(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure"));
    CHECK(cudaErrorLaunchFailure == 719 && cudaErrorInvalidValue == 1 && cudaErrorStreamCaptureUnsupported == 900);
    CHECK(strlen(cudaGetErrorString(cudaErrorMemoryAllocation)) > 0);
}

static void test_port_check(void) {
    char msg[256] = "";
    int rc = port_check_run(msg, sizeof msg);
    CHECK(rc == 0, "port_check_run: %d %s", rc, msg);
}

/* Child sides, run with their environment: no device at all, then a 1 MiB device. */
static int small_device_child(void) {
    size_t free_b = 0, total = 0;
    void *p = nullptr, *q = nullptr;
    bool ok = cudaMemGetInfo(&free_b, &total) == cudaSuccess && total == (1u << 20) && free_b == total &&
              cudaMalloc(&p, 600 << 10) == cudaSuccess && cudaMalloc(&q, 600 << 10) == cudaErrorMemoryAllocation &&
              cudaFree(p) == cudaSuccess && cudaMalloc(&q, 600 << 10) == cudaSuccess;
    return ok ? 0 : 1;
}
static int no_device_child(void) {
    int count = -1;
    void *p = nullptr;
    bool ok = cudaGetDeviceCount(&count) == cudaErrorNoDevice && count == 0 &&
              cudaMalloc(&p, 16) == cudaErrorNoDevice && cudaSetDevice(0) == cudaErrorNoDevice &&
              cudaGetLastError() == cudaErrorNoDevice;
    return ok ? 0 : 1;
}

static void run_child(const char *flag, const char *env, const char *value) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setenv(env, value, 1);
        execl("/proc/self/exe", "test_simt", flag, (char *)nullptr);
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s=%s child: status %d", env, value, status);
}

static void test_no_device(void) {
    run_child("--no-device-child", "SIMT_NO_DEVICE", "1");
    run_child("--small-device-child", "SIMT_MEM_BYTES", "1M");
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--no-device-child")) return no_device_child();
    if (argc > 1 && !strcmp(argv[1], "--small-device-child")) return small_device_child();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    test_device();
    test_no_device();
    test_block();
    test_block_errors();
    test_warp();
    test_warp_errors();
    test_runtime();
    test_graph();
    test_cublas();
    test_fp16();
    test_intrinsics();
    test_port_check();
    CHECK(c_api_check() == 0, "the C API check failed");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "test_simt: %.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    printf("%d passed, %d failed\n", simt_test_passed, simt_test_failed);
    return simt_test_failed ? 1 : 0;
}
