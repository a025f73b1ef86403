/* Placeholder: the runtime issue replaces this with the real PID 1. */
#include <unistd.h>
int main(void)
{
  for (;;)
    pause();
}
