/* base_read_file (see file.h). */
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"

int base_read_file(const char *path, size_t limit, char **out, size_t *len, char *err, size_t errlen) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(err, errlen, -errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    size_t cap = fstat(fileno(fp), &sb) == 0 && sb.st_size > 0 && (unsigned long long)sb.st_size < limit
                     ? (size_t)sb.st_size + 1
                     : (limit < 65536 ? limit + 1 : 65536);
    char *buf = malloc(cap + 1), *q;
    size_t n = 0, k;
    while (buf && (k = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += k;
        if (n > limit) break;
        if (n == cap) { /* it grew since fstat, or fstat did not know: more room, up to the limit + 1 */
            size_t more = cap > limit / 2 ? limit + 1 : cap * 2;
            if (!(q = realloc(buf, more + 1))) free(buf);
            buf = q, cap = more;
        }
    }
    fclose(fp);
    if (!buf) return err_set(err, errlen, -ENOMEM, "%s: out of memory", path);
    if (n > limit) {
        free(buf);
        return err_set(err, errlen, -EFBIG, "%s: larger than %zu bytes", path, limit);
    }
    buf[n] = 0;
    if (len) *len = n;
    *out = buf;
    return 0;
}
