/* The fuzz targets without libFuzzer: `make test` builds each tests/fuzz/fuzz_<name>.c with
 * this main (gcc, ASan and UBSan; no clang needed) and runs it over the committed corpus and
 * the inputs that once crashed (tests/fuzz/regress.sh). Arguments are files or directories
 * (their files, sorted; not recursive). LLVMFuzzerInitialize runs once, then every input in a
 * child process of its own, so that a crash, a sanitizer report, a leak or a hang fails that
 * input alone and the rest still run: one pass or one failure per input. Initialisation that
 * leaves with 77 (fuzz_skip) makes every input a skip. */
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

#define DRIVER_TIMEOUT_S 60 /* one input; libFuzzer's own default is 1200 s, ours are small */

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef struct Paths {
    char **v;
    int n, cap;
} Paths;

static int paths_add(Paths *p, const char *s) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        char **v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        p->v = v, p->cap = cap;
    }
    return (p->v[p->n] = strdup(s)) ? (p->n++, 0) : -1;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A directory's regular files, sorted; a file as it is. */
static int collect(Paths *p, const char *arg) {
    struct stat st;
    if (stat(arg, &st) != 0) return fprintf(stderr, "driver: %s: %s\n", arg, strerror(errno)), -1;
    if (!S_ISDIR(st.st_mode)) return paths_add(p, arg);
    DIR *d = opendir(arg);
    if (!d) return fprintf(stderr, "driver: %s: %s\n", arg, strerror(errno)), -1;
    int first = p->n;
    for (struct dirent *e; (e = readdir(d));) {
        char path[4096];
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", arg, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && paths_add(p, path)) return closedir(d), -1;
    }
    closedir(d);
    qsort(p->v + first, (size_t)(p->n - first), sizeof *p->v, by_name);
    return 0;
}

static int run_one(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "driver: %s: %s\n", path, strerror(errno)), 1;
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        uint8_t *b = n == cap ? realloc(buf, cap *= 2) : buf;
        if (!b) free(buf);
        buf = b;
    }
    fclose(f);
    if (!buf) return fprintf(stderr, "driver: %s: out of memory\n", path), 1;
    /* an exact-size copy, as libFuzzer gives: a read past the input's end is caught */
    uint8_t *in = malloc(n ? n : 1);
    if (!in) return 1;
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

int main(int argc, char **argv) {
    Paths p = {0};
    for (int i = 1; i < argc; i++)
        if (collect(&p, argv[i])) return 2;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int passed = 0, failed = 0;
    fflush(stdout);
    for (int i = 0; i < p.n; i++) {
        fflush(stdout); /* or the child would print what the parent has buffered again */
        pid_t pid = fork();
        if (pid < 0) return perror("driver: fork"), 2;
        if (pid == 0) {
            alarm(DRIVER_TIMEOUT_S);
            exit(run_one(p.v[i]));
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passed++;
        } else {
            failed++;
            if (WIFSIGNALED(st)) printf("FAIL %s: killed by signal %d%s\n", p.v[i], WTERMSIG(st),
                                        WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
            else printf("FAIL %s: exit status %d\n", p.v[i], WEXITSTATUS(st));
        }
        free(p.v[i]);
    }
    free(p.v);
    printf("%d passed, %d failed, 0 skipped\n", passed, failed);
    return failed ? 1 : 0;
}
