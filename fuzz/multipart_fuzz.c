/* libFuzzer target: the multipart/form-data parser (upload bodies come from clients). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  sf_mp_part parts[8];
  sf_error_t err = NULL;
  int n = sf_multipart_parse("multipart/form-data; boundary=XyZ", (const char *)data, size, parts,
                             8, &err);
  for (int i = 0; i < n; i++)
    if (parts[i].data < (const char *)data ||
        parts[i].data + parts[i].len > (const char *)data + size)
      abort();
  sf_error_release(&err);
  return 0;
}
