#ifndef MOBILENETCPU_CTURBOJPEG_SHIM_H
#define MOBILENETCPU_CTURBOJPEG_SHIM_H

#include <turbojpeg.h>

#endif
