/* s2sd.h - private to s2sd. */
#ifndef RAMPART_S2SD_H
#define RAMPART_S2SD_H

#include <unistd.h>

#include "sandbox.h"

extern const struct sandbox_policy s2sd_policy;

#endif
