/* imd.h - private to imd. */
#ifndef RAMPART_IMD_H
#define RAMPART_IMD_H

#include <unistd.h>

#include "sandbox.h"

extern const struct sandbox_policy imd_policy;

#endif
