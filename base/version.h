/* Piston's version, reported by `piston version`, /version, TGI's /info and Ollama's
 * /api/version. */
#ifndef PISTON_BASE_VERSION_H
#define PISTON_BASE_VERSION_H

#define PISTON_VERSION "0.2.0"

#endif
