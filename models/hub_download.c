/* hub_pull (see hub.h): the Hugging Face Hub's HTTP API, as huggingface_hub speaks it, into
 * the cache layout huggingface_hub reads. GET /api/models/REPO/revision/REV?blobs=true gives
 * the commit and every file with its size and hash (the LFS sha256, or the git blob id);
 * each file a serving engine needs comes from /REPO/resolve/COMMIT/FILE into
 * blobs/HASH.incomplete, resumed with a Range request where a partial file is left (from
 * a dropped connection, up to three tries here, or an earlier run), then checked against the
 * Hub's size and hash before it is renamed to blobs/HASH and linked from snapshots/COMMIT/.
 * A corrupt file is removed and reported, never linked. libcurl is loaded with dlopen when a
 * pull runs (hub_curl.c), SHA-256 and the git SHA-1 come from OpenSSL's libcrypto. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

/* Paths here are built from bounded pieces into fixed buffers; one that would not fit is cut
 * by snprintf and then fails to open or match, which is the right outcome, so GCC's
 * may-be-truncated warnings say nothing useful. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "models/hub_internal.h"

static int mkdirs(const char *path) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') *s = 0, mkdir(p, 0755), *s = '/';
    return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

/* hex digest of the file: SHA-256, or git's blob SHA-1 ("blob SIZE\0" + content) */
static int file_digest(const char *path, int git_sha1, char *hex, size_t cap) {
    FILE *fp = fopen(path, "rb");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!fp || !ctx) return fp ? fclose(fp) : 0, EVP_MD_CTX_free(ctx), -EIO;
    struct stat sb;
    fstat(fileno(fp), &sb);
    EVP_DigestInit_ex(ctx, git_sha1 ? EVP_sha1() : EVP_sha256(), NULL);
    if (git_sha1) {
        char hdr[64];
        int n = snprintf(hdr, sizeof hdr, "blob %lld", (long long)sb.st_size);
        EVP_DigestUpdate(ctx, hdr, (size_t)n + 1);
    }
    static const size_t chunk = 1 << 20;
    unsigned char *buf = malloc(chunk), md[EVP_MAX_MD_SIZE];
    size_t n;
    while (buf && (n = fread(buf, 1, chunk, fp)) > 0) EVP_DigestUpdate(ctx, buf, n);
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    fclose(fp);
    free(buf);
    for (unsigned i = 0; i < len && 2 * i + 2 < cap; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int64_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* The files an engine needs: top-level JSON, safetensors, chat templates, tokenizer.model;
 * a repository without safetensors but with exactly one .gguf: that GGUF. */
static int wanted(const char *f, int gguf_only) {
    if (strchr(f, '/')) return 0; /* original/, onnx/, ...: other formats */
    size_t n = strlen(f);
#define ENDS(s) (n >= sizeof(s) - 1 && !strcmp(f + n - (sizeof(s) - 1), s))
    return ENDS(".json") || ENDS(".jinja") || !strcmp(f, "tokenizer.model") || ENDS(".safetensors") ||
           (gguf_only && ENDS(".gguf"));
#undef ENDS
}

/* One file into the cache: blobs/NAME (downloaded or already there), linked from snap. */
static int fetch_file(HubCurl *hc, const HubPull *p, const char *repo_dir, const char *snap, const char *commit,
                      const cJSON *sib, char *err, size_t errlen) {
    const char *fname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sib, "rfilename"));
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(sib, "lfs");
    const char *sha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lfs, "sha256"));
    const char *git = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sib, "blobId"));
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(lfs ? lfs : sib, "size");
    const char *hash = sha ? sha : git;
    if (!hash || strspn(hash, "0123456789abcdef") != strlen(hash) || strlen(hash) < 40 || !cJSON_IsNumber(sz))
        return err_set(err, errlen, -EINVAL, "%s: the Hub reports no size and hash for %s", p->repo, fname);
    int64_t size = (int64_t)sz->valuedouble;
    char blob[4400], part[4500], url[8192], link[4400], got[160];
    snprintf(blob, sizeof blob, "%s/blobs/%s", repo_dir, hash);
    snprintf(part, sizeof part, "%s.incomplete", blob);
    if (file_size(blob) != size) {
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", hub_endpoint(p), p->repo, commit, fname);
        int rc = 0;
        for (int attempt = 0; attempt < 3; attempt++) { /* a dropped connection resumes where it stopped */
            rc = hub_curl_file(hc, p, url, part, fname, size, err, errlen);
            if (rc != -EAGAIN) break;
        }
        if (rc) return rc == -EAGAIN ? err_set(err, errlen, -EIO, "%s (the partial file is kept: run again to resume)", err) : rc;
        int64_t have = file_size(part);
        if (have != size) {
            unlink(part);
            return err_set(err, errlen, -EIO, "%s: %lld bytes downloaded, the Hub says %lld: removed, run again", fname,
                           (long long)have, (long long)size);
        }
        if (file_digest(part, sha == NULL, got, sizeof got) || strcmp(got, hash)) {
            unlink(part);
            return err_set(err, errlen, -EIO, "%s: %s %s does not match the Hub's %s: the download is corrupt and was "
                           "removed; run again", fname, sha ? "sha256" : "git sha1", got, hash);
        }
        if (rename(part, blob)) return err_set(err, errlen, -errno, "%s: %s", blob, strerror(errno));
    }
    snprintf(link, sizeof link, "%s/%s", snap, fname);
    snprintf(url, sizeof url, "../../blobs/%s", hash); /* relative, as huggingface_hub links */
    unlink(link);
    if (symlink(url, link)) return err_set(err, errlen, -errno, "%s: %s", link, strerror(errno));
    return 0;
}

int hub_pull(const HubPull *p, char *snapshot, size_t cap, char *err, size_t errlen) {
    if (!hub_repo_valid(p->repo))
        return err_set(err, errlen, -EINVAL, "'%s' is not a Hugging Face repository id (ORG/NAME)", p->repo);
    const char *rev = p->revision ? p->revision : "main";
    HubCurl hc;
    int rc = hub_curl_open(&hc, err, errlen);
    if (rc) return rc;
    char url[4096], root[4096], repo_dir[4400], snap[4500];
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", hub_endpoint(p), p->repo, rev);
    char *body = NULL;
    if ((rc = hub_curl_get(&hc, p, url, &body, err, errlen))) return hub_curl_close(&hc), rc;
    cJSON *j = cJSON_Parse(body);
    free(body);
    const char *commit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "sha"));
    const cJSON *sibs = cJSON_GetObjectItemCaseSensitive(j, "siblings"), *s;
    if (!commit || strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40 || !cJSON_IsArray(sibs)) {
        rc = err_set(err, errlen, -EINVAL, "%s: the Hub's answer has no commit and file list", url);
        goto out;
    }
    int n_st = 0, n_gguf = 0;
    cJSON_ArrayForEach(s, sibs) {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "rfilename"));
        size_t l = f ? strlen(f) : 0;
        n_st += l > 12 && !strcmp(f + l - 12, ".safetensors") && !strchr(f, '/');
        n_gguf += l > 5 && !strcmp(f + l - 5, ".gguf") && !strchr(f, '/');
    }
    if (!n_st && n_gguf != 1) {
        rc = err_set(err, errlen, -EINVAL, "%s has no safetensors weights%s", p->repo,
                     n_gguf ? " but several .gguf files: download the one you want and pass its path" : "");
        goto out;
    }
    hub_cache_root(root, sizeof root);
    const char *slash = strchr(p->repo, '/');
    snprintf(repo_dir, sizeof repo_dir, "%s/models--%.*s--%s", root, (int)(slash - p->repo), p->repo, slash + 1);
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo_dir, commit);
    snprintf(url, sizeof url, "%s/blobs", repo_dir);
    if ((rc = mkdirs(url)) || (rc = mkdirs(snap))) {
        rc = err_set(err, errlen, rc, "%s: cannot create the cache: %s", repo_dir, strerror(-rc));
        goto out;
    }
    cJSON_ArrayForEach(s, sibs) {
        const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "rfilename"));
        if (f && wanted(f, !n_st) && (rc = fetch_file(&hc, p, repo_dir, snap, commit, s, err, errlen))) goto out;
    }
    if (strcmp(rev, commit)) { /* refs/REV holds the commit, as huggingface_hub writes it */
        snprintf(url, sizeof url, "%s/refs", repo_dir);
        mkdirs(url);
        snprintf(url, sizeof url, "%s/refs/%s", repo_dir, rev);
        FILE *fp = strchr(rev, '/') ? NULL : fopen(url, "w");
        if (fp) fputs(commit, fp), fclose(fp);
    }
    snprintf(snapshot, cap, "%s", snap);
out:
    cJSON_Delete(j);
    hub_curl_close(&hc);
    return rc;
}
