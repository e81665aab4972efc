/* pepd.h - private to pepd. */
#ifndef RAMPART_PEPD_H
#define RAMPART_PEPD_H

#include <unistd.h>

#include "sandbox.h"

extern const struct sandbox_policy pepd_policy;

#endif
