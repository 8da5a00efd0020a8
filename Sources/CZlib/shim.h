#ifndef MOBILENETCPU_CZLIB_SHIM_H
#define MOBILENETCPU_CZLIB_SHIM_H

#include <zlib.h>

#endif
