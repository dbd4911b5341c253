/* The one error convention of Piston's library parts: a function that can fail returns 0 or
 * a negative errno-style code (-EINVAL bad input, -ENOMEM out of memory, -ENOENT not found,
 * -ENOSPC no room, -EIO a device failure, ...) and writes one line for a person into the
 * caller's buffer (char *err, size_t errlen), naming the thing and the fix. err_set does
 * both in one statement:  return err_set(err, errlen, -EINVAL, "n must be >= 1, got %d", n);
 * A NULL buffer is allowed (the caller wants only the code). Library code never exits. */
#ifndef PISTON_BASE_ERR_H
#define PISTON_BASE_ERR_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 4, 5))) static inline int err_set(char *err, size_t errlen, int code,
                                                                const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

#endif
