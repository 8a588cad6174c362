/*
 * cmd_place.h - `nephele place`: evaluate a placement request offline against a configuration
 * and a policy file, and print the decision (see docs/placement.md).
 */
#ifndef CMD_PLACE_H
#define CMD_PLACE_H

/* argv[0] is "place". Exit status: 0 placed, 3 no candidate survives, 2 bad input or usage,
 * 1 an internal failure (out of memory). */
int cmd_place(int argc, char **argv);

#endif
