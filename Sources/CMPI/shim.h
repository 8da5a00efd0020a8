// Open MPI for Swift: mpi.h's handles are macros over global objects (MPI_COMM_WORLD is
// `&ompi_mpi_comm_world`), which Swift cannot import; these functions return them.
#ifndef MOBILENETCPU_CMPI_SHIM_H
#define MOBILENETCPU_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm mnc_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype mnc_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype mnc_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype mnc_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype mnc_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype mnc_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op mnc_mpi_sum(void) { return MPI_SUM; }
static inline void *mnc_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler mnc_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int mnc_mpi_success(void) { return MPI_SUCCESS; }
static inline int mnc_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int mnc_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int mnc_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }

#endif
