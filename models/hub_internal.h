/* Inside the Hub client: libcurl, loaded with dlopen (hub_curl.c), and what hub_download.c
 * asks of it. Nothing outside models/hub*.c includes this header. */
#ifndef PISTON_HUB_INTERNAL_H
#define PISTON_HUB_INTERNAL_H

#include <curl/curl.h>
#include <stdint.h>

#include "models/hub.h"

typedef struct HubCurl {
    void *lib;
    CURL *(*easy_init)(void);
    CURLcode (*setopt)(CURL *, CURLoption, ...);
    CURLcode (*perform)(CURL *);
    CURLcode (*getinfo)(CURL *, CURLINFO, ...);
    void (*cleanup)(CURL *);
    const char *(*strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} HubCurl;

int hub_curl_open(HubCurl *hc, char *err, size_t errlen);
void hub_curl_close(HubCurl *hc);
/* $HF_ENDPOINT (or p->endpoint), without a trailing '/'; https://huggingface.co by default */
const char *hub_endpoint(const HubPull *p);
/* GET url into *body (malloc'd, NUL-terminated). 0, or negative with err set (401/403 say
 * HF_TOKEN, 404 says the repository or revision). */
int hub_curl_get(HubCurl *hc, const HubPull *p, const char *url, char **body, char *err, size_t errlen);
/* GET url appended to path (resuming from its size with a Range request; a server that
 * answers 200 instead of 206 rewrites it from the start), with a progress bar for name of
 * size bytes. 0; -EAGAIN when the transfer broke off (worth resuming); other negatives. */
int hub_curl_file(HubCurl *hc, const HubPull *p, const char *url, const char *path, const char *name, int64_t size,
                  char *err, size_t errlen);

#endif
