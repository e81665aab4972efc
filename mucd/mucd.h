/* mucd.h - private to mucd. */
#ifndef RAMPART_MUCD_H
#define RAMPART_MUCD_H

#include <unistd.h>

#include "sandbox.h"

extern const struct sandbox_policy mucd_policy;

#endif
