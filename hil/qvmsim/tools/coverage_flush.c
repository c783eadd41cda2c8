/*
 * coverage_flush.c - compiled into every coverage build of a vdev
 * (hil's --hil-coverage).  qvmsim ends with _exit(), which runs no destructor,
 * so libgcov's own at-exit dump never happens; and libgcov's __gcov_dump() is
 * hidden inside the .so.  This visible function is what qvmsim calls, through
 * dlsym() on the vdev's handle, just before _exit() (vdev.c).
 */
extern void __gcov_dump(void);

__attribute__((visibility("default"))) void qvmsim_coverage_flush(void);

__attribute__((visibility("default"))) void qvmsim_coverage_flush(void)
{
    __gcov_dump();
}
