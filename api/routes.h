/* routes: the API's route table, in the order routes are matched. */
#ifndef HERALD_API_ROUTES_H
#define HERALD_API_ROUTES_H

#include "api/api.h"

/* routes_table: terminated by an entry with a NULL handler; static. */
const struct api_route *routes_table(void);

#endif
