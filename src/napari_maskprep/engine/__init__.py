"""How ops and recipes run: one call on the whole array, plane by plane or in stripes
(``planes``), a recipe in memory (``memory``), statistics kept between previews
(``statistics``)."""
