/* Reading a whole small file (a config, a tokenizer, a template, a log): the one place that
 * bounds it, so that a hostile or mistaken path cannot make Piston read gigabytes. */
#ifndef PISTON_BASE_FILE_H
#define PISTON_BASE_FILE_H

#include <stddef.h>

/* The whole of path into *out (malloc'd, NUL-terminated), its length in *len (len may be
 * NULL): 0, or the code with err when it cannot be opened (-errno: -ENOENT, -EACCES, ...),
 * is larger than limit bytes (-EFBIG) or memory runs out (-ENOMEM); *out is NULL then. Room is made for the file as it is, not for the limit (memory
 * is not lazy everywhere: ASan), and a file still growing (a log, a pipe) is read to its end
 * or to the limit. */
int base_read_file(const char *path, size_t limit, char **out, size_t *len, char *err, size_t errlen);

#endif
