/* The benchmarks, `piston bench latency|throughput`. They sit on top of everything, like the
 * CLI whose flag parsing they share (cli/cli.h). */
#ifndef PISTON_BENCH_H
#define PISTON_BENCH_H

/* `piston bench SUBCOMMAND ...`: dispatch; returns the exit code. */
int cmd_bench(int argc, char **argv);
int bench_latency(int argc, char **argv);
int bench_throughput(int argc, char **argv);
int bench_bandwidth(int argc, char **argv);
int bench_serve(int argc, char **argv);
int bench_sweep(int argc, char **argv);

#endif
