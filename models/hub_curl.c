/* libcurl for the Hub client (see hub_internal.h), loaded with dlopen so that bin/piston
 * starts, and serves local models, where libcurl is not installed; only `pull` needs it.
 * Requests carry Authorization: Bearer $HF_TOKEN when set, follow the Hub's redirects to its
 * file store (curl drops the custom header on another host), time out a connection after
 * 15 s and a transfer that stalls for 30 s, and resume a partial file with a Range request. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

/* Paths here are built from bounded pieces into fixed buffers; one that would not fit is cut
 * by snprintf and then fails to open or match, which is the right outcome, so GCC's
 * may-be-truncated warnings say nothing useful. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "models/hub_internal.h"

int hub_curl_open(HubCurl *hc, char *err, size_t errlen) {
    memset(hc, 0, sizeof *hc);
    hc->lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!hc->lib) hc->lib = dlopen("libcurl.so", RTLD_NOW | RTLD_LOCAL);
    if (!hc->lib)
        return err_set(err, errlen, -ENOENT, "downloads need libcurl (libcurl.so.4, Debian: libcurl4): %s", dlerror());
    CURLcode (*global_init)(long) = (CURLcode(*)(long))dlsym(hc->lib, "curl_global_init");
#define SYM(field, name) *(void **)&hc->field = dlsym(hc->lib, name)
    SYM(easy_init, "curl_easy_init");
    SYM(setopt, "curl_easy_setopt");
    SYM(perform, "curl_easy_perform");
    SYM(getinfo, "curl_easy_getinfo");
    SYM(cleanup, "curl_easy_cleanup");
    SYM(strerror, "curl_easy_strerror");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
    if (!global_init || !hc->easy_init || !hc->setopt || !hc->perform || !hc->getinfo || !hc->cleanup ||
        !hc->strerror || !hc->slist_append || !hc->slist_free_all) {
        hub_curl_close(hc);
        return err_set(err, errlen, -ENOENT, "libcurl lacks the functions Piston calls");
    }
    global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

void hub_curl_close(HubCurl *hc) {
    if (hc->lib) dlclose(hc->lib);
    memset(hc, 0, sizeof *hc);
}

const char *hub_endpoint(const HubPull *p) {
    const char *e = p->endpoint ? p->endpoint : getenv("HF_ENDPOINT");
    return e && *e ? e : "https://huggingface.co";
}

static CURL *easy(HubCurl *hc, const HubPull *p, const char *url, struct curl_slist **hdrs) {
    CURL *c = hc->easy_init();
    if (!c) return NULL;
    const char *tok = p->token ? p->token : getenv("HF_TOKEN");
    *hdrs = NULL;
    if (tok && *tok) {
        char h[1024];
        snprintf(h, sizeof h, "Authorization: Bearer %s", tok);
        *hdrs = hc->slist_append(NULL, h);
    }
    hc->setopt(c, CURLOPT_URL, url);
    hc->setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    hc->setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    hc->setopt(c, CURLOPT_USERAGENT, "piston");
    hc->setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    hc->setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    hc->setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    hc->setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

static int http_error(long code, const char *url, char *err, size_t errlen) {
    if (code == 401 || code == 403)
        return err_set(err, errlen, -EACCES, "%s: HTTP %ld: the repository is gated or private; set HF_TOKEN to a token "
                       "that may read it", url, code);
    if (code == 404) return err_set(err, errlen, -ENOENT, "%s: HTTP 404: no such repository, revision or file", url);
    return err_set(err, errlen, -EIO, "%s: HTTP %ld", url, code);
}

typedef struct Mem {
    char *p;
    size_t n, cap;
} Mem;

static size_t mem_write(char *d, size_t sz, size_t nm, void *u) {
    Mem *m = u;
    size_t n = sz * nm;
    if (m->n + n + 1 > 64u << 20) return 0; /* an API answer is small; anything else is wrong */
    if (m->n + n + 1 > m->cap) {
        size_t cap = (m->n + n + 1) * 2;
        char *np = realloc(m->p, cap);
        if (!np) return 0;
        m->p = np, m->cap = cap;
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
    m->p[m->n] = 0;
    return n;
}

int hub_curl_get(HubCurl *hc, const HubPull *p, const char *url, char **body, char *err, size_t errlen) {
    struct curl_slist *h;
    CURL *c = easy(hc, p, url, &h);
    Mem m = {0};
    if (!c) return err_set(err, errlen, -ENOMEM, "out of memory");
    hc->setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
    hc->setopt(c, CURLOPT_WRITEDATA, &m);
    CURLcode rc = hc->perform(c);
    long code = 0;
    hc->getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    hc->cleanup(c);
    hc->slist_free_all(h);
    int r = rc != CURLE_OK ? err_set(err, errlen, -EIO, "%s: %s", url, hc->strerror(rc))
            : code >= 400  ? http_error(code, url, err, errlen)
            : !m.p         ? err_set(err, errlen, -EIO, "%s: an empty answer", url)
                           : 0;
    if (r) free(m.p);
    else *body = m.p;
    return r;
}

typedef struct Sink {
    HubCurl *hc;
    CURL *c;
    FILE *fp;
    int64_t start, size;
    int checked, tty;
    const char *name;
    double t0, last;
} Sink;

static size_t file_write(char *d, size_t sz, size_t nm, void *u) {
    Sink *s = u;
    if (!s->checked) { /* a 200 to a Range request is the whole file: start over */
        long code = 0;
        s->hc->getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200 && s->start > 0) {
            if (ftruncate(fileno(s->fp), 0) || fseek(s->fp, 0, SEEK_SET)) return 0;
            s->start = 0;
        }
        s->checked = 1;
    }
    return fwrite(d, sz, nm, s->fp) * sz;
}

static int progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    Sink *s = u;
    double now = base_now();
    if (!s->tty || now - s->last < 0.2) return 0;
    s->last = now;
    int64_t have = s->start + (int64_t)dn;
    double rate = dn / (now - s->t0 > 1e-3 ? now - s->t0 : 1e-3) / 1e6;
    int pct = s->size > 0 ? (int)(100.0 * have / s->size) : 0, bar = pct * 30 / 100;
    fprintf(stderr, "\rpiston: pull %-36.36s [%.*s%*s] %3d%% %8.1f MB %6.1f MB/s", s->name, bar,
            "==============================", 30 - bar, "", pct, have / 1e6, rate);
    return 0;
}

int hub_curl_file(HubCurl *hc, const HubPull *p, const char *url, const char *path, const char *name, int64_t size,
                  char *err, size_t errlen) {
    FILE *fp = fopen(path, "ab");
    if (!fp) return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat sb;
    fstat(fileno(fp), &sb);
    struct curl_slist *h;
    CURL *c = easy(hc, p, url, &h);
    if (!c) return fclose(fp), err_set(err, errlen, -ENOMEM, "out of memory");
    /* a bar on a terminal that reads plain lines; a log line per file otherwise */
    Sink s = {hc, c, fp, (int64_t)sb.st_size, size, 0, p->progress && isatty(2) && !log_is_json(), name, base_now(), 0};
    if (s.start >= size && size > 0) { /* complete already: the caller checks it */
        hc->cleanup(c), hc->slist_free_all(h), fclose(fp);
        return 0;
    }
    hc->setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)s.start);
    hc->setopt(c, CURLOPT_FAILONERROR, 1L);
    hc->setopt(c, CURLOPT_WRITEFUNCTION, file_write);
    hc->setopt(c, CURLOPT_WRITEDATA, &s);
    hc->setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    hc->setopt(c, CURLOPT_XFERINFODATA, &s);
    hc->setopt(c, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = hc->perform(c);
    long code = 0;
    hc->getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    hc->cleanup(c);
    hc->slist_free_all(h);
    int werr = fclose(fp) != 0;
    if (s.tty) fputc('\n', stderr);
    if (rc == CURLE_OK && !werr) {
        if (p->progress && !s.tty)
            log_line(LOG_INFO, "pulled %s (%lld bytes%s)", name, (long long)size, s.start ? ", resumed" : "");
        return 0;
    }
    if (werr || rc == CURLE_WRITE_ERROR) return err_set(err, errlen, -EIO, "%s: cannot write the download", path);
    if (rc == CURLE_HTTP_RETURNED_ERROR) return http_error(code, url, err, errlen);
    if (p->progress) log_line(LOG_WARN, "%s: %s; resuming", name, hc->strerror(rc));
    return err_set(err, errlen, -EAGAIN, "%s: %s", url, hc->strerror(rc));
}
