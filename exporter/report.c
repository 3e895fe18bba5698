/* report.c - the exit report. Arrives with issue 5. */
#include "exp.h"

void ots_report_at_exit(void)
{
}
