/* A small kernel file that uses every facility of kernels/cuda/cuda_port.h; it must build
 * with nvcc (checked with -c, no GPU here) and with the host compiler against the SIMT
 * emulator, where the emulator's tests run it. */
#ifndef PISTON_PORT_CHECK_H
#define PISTON_PORT_CHECK_H
#include <stddef.h>

/* Runs the checks on the current device; 0 when all pass, else a negative number with
 * a description in msg. */
int port_check_run(char *msg, size_t cap);
#endif
