/* sgemm_probe: GFLOP/s of one n x n x n cblas_sgemm (best of 5 after a warm-up)
 * through whichever BLAS it is linked with, and the kernel that BLAS chose.
 * bench/blas/compare.sh builds it against OpenBLAS and BLIS and runs it per
 * OpenBLAS kernel: the measurement behind kernels/gemm_backend.h's choice
 * (docs/performance.md). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
#ifdef USE_BLIS
#include <blis.h>
#else
char* openblas_get_corename(void);
#endif
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc,char**argv){int n=argc>1?atoi(argv[1]):1024;
float*a=malloc(4L*n*n),*b=malloc(4L*n*n),*c=malloc(4L*n*n);
for(long i=0;i<(long)n*n;i++){a[i]=(i%13)*0.1f-0.6f;b[i]=(i%7)*0.2f-0.5f;}
cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,n,n,n,1,a,n,b,n,0,c,n);
double best=1e9;for(int r=0;r<5;r++){double t=now();cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,n,n,n,1,a,n,b,n,0,c,n);t=now()-t;if(t<best)best=t;}
#ifdef USE_BLIS
printf("blis %s: %.1f GFLOP/s  c0=%g\n", bli_arch_string(bli_arch_query_id()), 2.0*n*n*n/best/1e9, c[12345]);
#else
printf("openblas %s: %.1f GFLOP/s c0=%g\n", openblas_get_corename(), 2.0*n*n*n/best/1e9, c[12345]);
#endif
}
