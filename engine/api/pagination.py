"""Page-number pagination with a page size the client may choose up to a maximum."""
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        """Paginate; a page that is not a number or past the end is a 404 naming ``page``."""
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            raise NotFound({self.page_query_param: [exc.detail]}) from None
