#ifndef MOBILENETCPU_CPNG_SHIM_H
#define MOBILENETCPU_CPNG_SHIM_H

#include <png.h>

#endif
