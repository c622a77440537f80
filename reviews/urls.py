from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("services/<slug:slug>/launch/", views.service_launch, name="service-launch"),
    path("launches/", views.review_list, name="review-list"),
    path("launches/<int:pk>/", views.review_detail, name="review-detail"),
    path(
        "launches/<int:pk>/<str:action>/",
        views.review_decide,
        name="review-decide",
    ),
]
