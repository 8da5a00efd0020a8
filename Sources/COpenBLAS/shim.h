#ifndef MOBILENETCPU_COPENBLAS_SHIM_H
#define MOBILENETCPU_COPENBLAS_SHIM_H

#include <cblas.h>
#include <lapacke.h>

#endif
