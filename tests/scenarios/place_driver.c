/* place_driver.c - `nephele place` without the rest of the broker: runs cmd_place() so that
 * the placement scenarios test the command line (exit status, messages, JSON) while linking
 * only libnephele-policy and libnephele-common. */
#include "cmd_place.h"

int main(int argc, char **argv)
{
    return cmd_place(argc, argv);
}
