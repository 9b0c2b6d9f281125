import unittest

from pager import page, page_count


class PageCountTest(unittest.TestCase):
    def test_exact_multiple(self):
        self.assertEqual(page_count(9, 3), 3)

    def test_partial_last_page(self):
        self.assertEqual(page_count(10, 3), 4)

    def test_no_items(self):
        self.assertEqual(page_count(0, 3), 0)

    def test_rejects_empty_pages(self):
        with self.assertRaises(ValueError):
            page_count(5, 0)


class PageTest(unittest.TestCase):
    def test_first_page(self):
        self.assertEqual(page(list(range(1, 11)), 1, 3), [1, 2, 3])

    def test_last_page_holds_the_rest(self):
        self.assertEqual(page(list(range(1, 11)), 4, 3), [10])

    def test_out_of_range(self):
        with self.assertRaises(IndexError):
            page([1, 2, 3], 2, 3)


if __name__ == "__main__":
    unittest.main()
