/* bench sweep's servers: `piston serve` forked and exec'd per setting with its log in the
 * result directory, its port read from the log, ready when /health answers; stopped with
 * SIGTERM (then SIGKILL), and never outliving the sweep (PR_SET_PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/file.h"
#include "bench/sweep.h"

/* The one piece of process state: a signal handler can reach nothing else. */
static volatile sig_atomic_t interrupted;
static volatile pid_t running_server;
static struct sigaction old_int, old_term;

static void on_signal(int sig) {
    interrupted = 1;
    if (running_server > 0) kill(running_server, SIGTERM);
    (void)sig;
}

void sweep_signals_install(void) {
    struct sigaction sact = {0};
    sact.sa_handler = on_signal;
    sigaction(SIGINT, &sact, &old_int);
    sigaction(SIGTERM, &sact, &old_term);
}

void sweep_signals_restore(void) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

int sweep_interrupted(void) { return interrupted; }

/* A server's log so far (NULL when there is none yet). */
static char *read_file(const char *path) {
    char *text;
    return base_read_file(path, 64u << 20, &text, NULL, NULL, 0) ? NULL : text;
}

/* The last "piston: ..." or "error" line of a log: why a server stopped. */
static void last_error(const char *log, char *out, size_t n) {
    char *t = read_file(log);
    snprintf(out, n, "exited during start (log: %.400s)", log);
    if (!t) return;
    for (char *line = t; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (strstr(line, "piston:") || strstr(line, "ERROR") || strstr(line, "error")) {
            /* without the log's time and level: "2026-12-01T22:45:23.178Z ERROR  the KV cache ..." */
            const char *m = strstr(line, "Z ERROR");
            if (m && m - line < 32) m += 7;
            else m = line;
            while (*m == ' ') m++;
            snprintf(out, n, "%s", m);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(t);
}

void sweep_server_stop(SweepServer *s) {
    running_server = 0;
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(100000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

int sweep_server_start(const SweepArgs *a, const int *vi, int idx, SweepServer *s, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s/server-%d.log", a->out_dir, idx);
    const char *argv[MAX_ARGS + 16];
    int n = 0;
    argv[n++] = a->piston;
    argv[n++] = "serve";
    argv[n++] = a->model;
    argv[n++] = "--host", argv[n++] = "127.0.0.1", argv[n++] = "--port", argv[n++] = "0";
    for (int i = 0; i < a->n_serve; i++) argv[n++] = a->serve_argv[i];
    for (int k = 0; k < a->n_sw; k++) argv[n++] = a->sw[k].flag, argv[n++] = a->sw[k].values[vi[k]];
    argv[n] = NULL;
    /* fork and exec rather than posix_spawn: the child asks to be stopped when the sweep
     * dies, so that no server outlives it whatever happens */
    pid_t parent = getpid();
    /* the log is emptied here, before the child runs: the port is read from it, and a
     * previous sweep's log in the same place must not be read instead */
    int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(err, errlen, -errno, "%s: %s", s->log, strerror(errno));
    s->pid = fork();
    if (s->pid < 0) {
        close(fd);
        return err_set(err, errlen, -errno, "cannot start %s: %s", a->piston, strerror(errno));
    }
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0) _exit(127);
        dup2(fd, 1), dup2(fd, 2), dup2(nul, 0);
        close(fd), close(nul);
        execv(a->piston, (char *const *)argv);
        fprintf(stderr, "piston: cannot run %s: %s\n", a->piston, strerror(errno));
        _exit(127);
    }
    close(fd);
    running_server = s->pid;
    double t0 = base_now();
    while (base_now() - t0 < a->server_timeout_s && !interrupted) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            last_error(s->log, err, errlen);
            return -1;
        }
        if (!s->url[0]) {
            char *t = read_file(s->log);
            const char *m = t ? strstr(t, "listening on http://127.0.0.1:") : NULL;
            if (m) {
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", atoi(m + 30));
                char e2[256];
                if (hc_target_parse(&s->t, s->url, e2, sizeof e2)) s->url[0] = 0;
            }
            free(t);
        }
        if (s->url[0]) {
            HcResponse r;
            char e2[256];
            if (!hc_fetch(&s->t, "GET", "/health", NULL, 5, &r, e2, sizeof e2)) {
                int ok = r.status == 200;
                free(r.body);
                if (ok) return 0;
            }
        }
        usleep(200000);
    }
    sweep_server_stop(s);
    return err_set(err, errlen, -ETIMEDOUT, interrupted ? "interrupted" : "not ready after %g s (log: %s)",
                   a->server_timeout_s, s->log);
}

int sweep_log_int(const char *log, const char *key) {
    char *t = read_file(log);
    const char *m = t ? strstr(t, key) : NULL;
    int v = m ? atoi(m + strlen(key)) : -1;
    free(t);
    return v;
}

