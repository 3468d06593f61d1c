#define BOOST_TEST_MODULE powerloss_fs
#include <boost/test/unit_test.hpp>
