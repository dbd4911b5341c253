/* A tokenizer.json's pre_tokenizer and normalizer trees (see tokenizer_hf.c) into an HfCtx:
 * the byte-level BPE's split regexes (Sequence, Split with a Regex or String pattern and
 * behavior Isolated, Digits, ByteLevel with use_regex: GPT-2's regex), an NFC normalizer
 * (Qwen2), and what a SentencePiece-style one says: a Metaspace pre-tokenizer, or the
 * legacy Prepend "▁" and Replace " " -> "▁" normalizers. Anything else is refused by name. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/tokenizer_internal.h"

#define SPM_SPACE "\xE2\x96\x81" /* "▁" */

static int add_regex(HfCtx *c, const char *re, char *err, size_t errlen) {
    if (c->s.n_regex >= TOK_PRE_MAX_REGEX)
        return err_set(err, errlen, -EINVAL, "%s: more than %d pre-tokenizer splits", c->path, TOK_PRE_MAX_REGEX);
    c->s.regex[c->s.n_regex++] = re;
    return 0;
}

int tok_hf_pre(HfCtx *c, const cJSON *p, char *err, size_t errlen) {
    if (!p || cJSON_IsNull(p)) return 0;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "type"));
    if (!type) return err_set(err, errlen, -EINVAL, "%s: a pre_tokenizer without a type", c->path);
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers")) {
            int rc = tok_hf_pre(c, e, err, errlen);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "add_prefix_space")))
            return err_set(err, errlen, -EINVAL, "%s: ByteLevel with add_prefix_space is not supported", c->path);
        c->byte_level = 1;
        return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p, "use_regex"))
                   ? 0
                   : add_regex(c, tok_pre_gpt2_regex(), err, errlen);
    }
    if (!strcmp(type, "Metaspace")) { /* SentencePiece's: spaces are "▁", one maybe before the text */
        const char *rp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "replacement"));
        const char *ps = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "prepend_scheme"));
        const cJSON *aps = cJSON_GetObjectItemCaseSensitive(p, "add_prefix_space"); /* before tokenizers 0.15 */
        if ((rp && strcmp(rp, SPM_SPACE)) || !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p, "split")))
            return err_set(err, errlen, -EINVAL,
                           "%s: a Metaspace pre-tokenizer that splits, or replaces with other than \"" SPM_SPACE
                           "\", is not supported", c->path);
        int first = ps && !strcmp(ps, "first"), never = ps ? !strcmp(ps, "never") : cJSON_IsFalse(aps);
        c->metaspace =
            1 + (never ? 0 : TOK_SPACE_PREFIX | TOK_SPACE_PREFIX_UNLESS_SPACE | (first ? TOK_SPACE_PREFIX_FIRST : 0));
        return 0;
    }
    if (!strcmp(type, "Digits"))
        return add_regex(c,
                         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "individual_digits")) ? "\\p{N}" : "\\p{N}+",
                         err, errlen);
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *re = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pat, "Regex"));
        const char *lit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pat, "String"));
        const char *beh = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "behavior"));
        if ((!re && !lit) || !beh || strcmp(beh, "Isolated") ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "invert")))
            return err_set(err, errlen, -EINVAL,
                           "%s: a Split pre-tokenizer with behavior %s is not supported (Isolated is)", c->path,
                           beh ? beh : "(none)");
        if (re || c->s.n_regex >= TOK_PRE_MAX_REGEX) return add_regex(c, re ? re : "", err, errlen);
        char *q = malloc(strlen(lit) + 8); /* \Q...\E: the string literally */
        if (!q) return err_set(err, errlen, -ENOMEM, "out of memory");
        sprintf(q, "\\Q%s\\E", lit);
        c->owned[c->s.n_regex] = q;
        return add_regex(c, q, err, errlen);
    }
    return err_set(err, errlen, -EINVAL,
                   "%s: pre_tokenizer %s is not supported (Piston reads Sequence, Split, Digits, ByteLevel and "
                   "Metaspace)", c->path, type);
}

int tok_hf_normalizer(HfCtx *c, const cJSON *n, char *err, size_t errlen) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "type"));
    if (type && !strcmp(type, "NFC")) return c->s.nfc = 1, 0;
    const char *pre = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "prepend"));
    if (type && !strcmp(type, "Prepend") && pre && !strcmp(pre, SPM_SPACE)) return c->prepend = 1, 0;
    const char *from = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(n, "pattern"), "String"));
    const char *to = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "content"));
    if (type && !strcmp(type, "Replace") && from && to && !strcmp(from, " ") && !strcmp(to, SPM_SPACE))
        return c->replace_space = 1, 0;
    if (type && !strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "normalizers")) {
            int rc = tok_hf_normalizer(c, e, err, errlen);
            if (rc) return rc;
        }
        return 0;
    }
    return err_set(err, errlen, -EINVAL,
                   "%s: normalizer %s is not supported (NFC is, and SentencePiece's Prepend and Replace of spaces)",
                   c->path, type ? type : "?");
}
